package filelock

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestSecondAcquireIsRefusedNamingTheHolder(t *testing.T) {
	if !Supported {
		t.Skip("no flock on this platform")
	}
	path := filepath.Join(t.TempDir(), "x.lock")
	l, err := Acquire(path)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Acquire(path)
	if !IsHeld(err) || !strings.Contains(err.Error(), fmt.Sprintf("pid %d on", os.Getpid())) {
		t.Fatalf("second Acquire: got %v, want a HeldError naming pid %d", err, os.Getpid())
	}
	l.Release()
	l.Release() // idempotent
	l2, err := Acquire(path)
	if err != nil {
		t.Fatalf("after Release: %v", err)
	}
	l2.Release()
	if _, err := os.Stat(path); err != nil {
		t.Errorf("Acquire's lock file should stay: %v", err)
	}
}

func TestAcquireTempRemovesItsFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cell.lock")
	l, err := AcquireTemp(path)
	if err != nil {
		t.Fatal(err)
	}
	if Supported {
		if _, err := AcquireTemp(path); !IsHeld(err) {
			t.Fatalf("second AcquireTemp: got %v, want HeldError", err)
		}
	}
	l.Release()
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("lock file after Release: %v, want it gone", err)
	}
}

// TestKilledHolderLeavesNoStaleLock runs a child that takes the lock and
// waits; the parent is refused naming the child's pid, kills it with
// SIGKILL, and then takes the lock at once.
func TestKilledHolderLeavesNoStaleLock(t *testing.T) {
	if !Supported {
		t.Skip("no flock on this platform")
	}
	if p := os.Getenv("FILELOCK_CHILD"); p != "" {
		if _, err := Acquire(p); err != nil {
			fmt.Println("ERR", err)
			os.Exit(1)
		}
		fmt.Println("LOCKED")
		select {}
	}
	path := filepath.Join(t.TempDir(), "x.lock")
	cmd := exec.Command(os.Args[0], "-test.run=^TestKilledHolderLeavesNoStaleLock$")
	cmd.Env = append(os.Environ(), "FILELOCK_CHILD="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(out).ReadString('\n')
	if strings.TrimSpace(line) != "LOCKED" {
		cmd.Process.Kill()
		t.Fatalf("child said %q", line)
	}
	_, err = Acquire(path)
	if !IsHeld(err) || !strings.Contains(err.Error(), fmt.Sprintf("pid %d on", cmd.Process.Pid)) {
		cmd.Process.Kill()
		t.Fatalf("while the child holds it: got %v, want HeldError naming pid %d", err, cmd.Process.Pid)
	}
	cmd.Process.Kill()
	cmd.Wait()
	l, err := Acquire(path)
	if err != nil {
		t.Fatalf("after the holder was killed: %v", err)
	}
	l.Release()
}
