//go:build amd64 && !purego

package gemm

// CPU feature detection with CPUID and XGETBV. golang.org/x/sys/cpu would do
// the same, but it is only an indirect dependency of this module and importing
// it directly would change go.mod.

func cpuid(leaf, subleaf uint32) (eax, ebx, ecx, edx uint32)
func xgetbv0() (eax, edx uint32)

type cpuFeatures struct {
	avx2FMA bool // AVX2 and FMA3 instructions, YMM state enabled by the OS
	avx512  bool // AVX-512F instructions, ZMM and opmask state enabled by the OS
}

func detectCPU() cpuFeatures {
	maxLeaf, _, _, _ := cpuid(0, 0)
	if maxLeaf < 7 {
		return cpuFeatures{}
	}
	_, _, ecx1, _ := cpuid(1, 0)
	const (
		fmaBit     = 1 << 12
		osxsaveBit = 1 << 27
		avxBit     = 1 << 28
	)
	if ecx1&(fmaBit|osxsaveBit|avxBit) != fmaBit|osxsaveBit|avxBit {
		return cpuFeatures{}
	}
	// The OS must save the registers we use across context switches:
	// XCR0 bit 1 (XMM) and 2 (upper YMM); bits 5-7 (opmask, upper ZMM0-15, ZMM16-31).
	xcr0, _ := xgetbv0()
	const ymmState, zmmState = 0x6, 0xe0
	if xcr0&ymmState != ymmState {
		return cpuFeatures{}
	}
	_, ebx7, _, _ := cpuid(7, 0)
	const (
		avx2Bit    = 1 << 5
		avx512fBit = 1 << 16
	)
	var f cpuFeatures
	f.avx2FMA = ebx7&avx2Bit != 0
	f.avx512 = f.avx2FMA && ebx7&avx512fBit != 0 && xcr0&zmmState == zmmState
	return f
}
