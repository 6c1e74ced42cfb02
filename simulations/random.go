package simulations

import (
	"encoding/binary"
	"hash/fnv"
	"math"
	"math/rand/v2"
)

// Every random draw comes from a stream named by the seed and what it is
// about (a citizen, a proposal, a municipality's streets), never from a
// shared generator: a draw then does not depend on which goroutine ran
// first, nor on what else the scenario changed. Two variants of a
// scenario give the same citizen the same answers.
func stream(seed uint64, keys ...string) *rand.Rand {
	h := fnv.New64a()
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], seed)
	h.Write(b[:])
	for _, k := range keys {
		h.Write([]byte(k))
		h.Write([]byte{0})
	}
	s := h.Sum64()
	return rand.New(rand.NewPCG(seed^0x9e3779b97f4a7c15, s))
}

// z90 is the standard normal's 90th percentile.
const z90 = 1.2815515655446004

// days draws a log-normal duration in days.
func (d Delay) draw(r *rand.Rand) float64 {
	if d.P90 <= d.Median {
		return d.Median
	}
	sigma := (math.Log(d.P90) - math.Log(d.Median)) / z90
	return math.Exp(math.Log(d.Median) + sigma*r.NormFloat64())
}

// poisson draws a Poisson count: Knuth's product method for small means,
// the rounded normal approximation for large ones (off by well under the
// statistical spread of any count a report shows).
func poisson(r *rand.Rand, mean float64) int {
	if mean <= 0 {
		return 0
	}
	if mean < 30 {
		l, k, p := math.Exp(-mean), 0, 1.0
		for {
			p *= r.Float64()
			if p <= l {
				return k
			}
			k++
		}
	}
	n := int(math.Round(mean + math.Sqrt(mean)*r.NormFloat64()))
	return max(n, 0)
}

// pick draws an index by weights that sum to 1.
func pick(r *rand.Rand, weights []float64) int {
	u := r.Float64()
	for i, w := range weights {
		if u < w {
			return i
		}
		u -= w
	}
	return len(weights) - 1
}
