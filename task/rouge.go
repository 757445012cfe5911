package task

// Rouge holds ROUGE-L precision, recall and F1 of a candidate against a
// reference, computed on token ids.
type Rouge struct {
	Precision, Recall, F1 float64
}

// RougeL scores candidate against reference by their longest common
// subsequence (LCS): P = LCS/|candidate|, R = LCS/|reference|,
// F1 = 2PR/(P+R). Two empty sequences match perfectly; one empty sequence
// scores 0.
func RougeL(candidate, reference []int32) Rouge {
	if len(candidate) == 0 && len(reference) == 0 {
		return Rouge{1, 1, 1}
	}
	l := LCS(candidate, reference)
	if l == 0 {
		return Rouge{}
	}
	p := float64(l) / float64(len(candidate))
	r := float64(l) / float64(len(reference))
	return Rouge{p, r, 2 * p * r / (p + r)}
}

// LCS is the length of the longest common subsequence of a and b.
func LCS(a, b []int32) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			switch {
			case a[i-1] == b[j-1]:
				cur[j] = prev[j-1] + 1
			case prev[j] >= cur[j-1]:
				cur[j] = prev[j]
			default:
				cur[j] = cur[j-1]
			}
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
