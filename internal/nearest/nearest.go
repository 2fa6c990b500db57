// Package nearest finds the names closest to a misspelt one ("list-instancez: did you mean
// list-instances?"), for the policy checks and the answer to an unknown tool.
package nearest

import (
	"slices"
	"strings"
)

// Names returns up to n of candidates within maxDist edits of name (Levenshtein distance over
// runes; maxDist < 0: any distance), closest first, ties in name order.
func Names(name string, candidates []string, maxDist, n int) []string {
	type scored struct {
		name string
		d    int
	}
	limit := maxDist
	if limit < 0 {
		limit = -1
	}
	var hits []scored
	for _, c := range candidates {
		if d := Distance(name, c, limit); maxDist < 0 || d <= maxDist {
			hits = append(hits, scored{c, d})
		}
	}
	slices.SortFunc(hits, func(a, b scored) int {
		if a.d != b.d {
			return a.d - b.d
		}
		return strings.Compare(a.name, b.name)
	})
	var out []string
	for _, h := range hits[:min(n, len(hits))] {
		out = append(out, h.name)
	}
	return out
}

// Distance is the Levenshtein distance between a and b over runes, cut short at limit + 1 once
// it is sure to exceed limit (limit < 0: never cut short).
func Distance(a, b string, limit int) int {
	ra, rb := []rune(a), []rune(b)
	if d := len(ra) - len(rb); limit >= 0 && (d > limit || -d > limit) {
		return limit + 1
	}
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		rowMin := cur[0]
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			rowMin = min(rowMin, cur[j])
		}
		if limit >= 0 && rowMin > limit {
			return limit + 1
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
