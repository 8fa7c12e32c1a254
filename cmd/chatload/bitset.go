package main

import "math/bits"

// bitset marks sequence numbers 0..n-1: which messages a receiver has seen,
// which the server acknowledged. A run's sequence numbers are bounded by its
// budget, so the set is allocated once and never grows.
type bitset []uint64

func newBitset(n int64) bitset { return make(bitset, (n+63)/64) }

// set marks i and reports whether it was already marked; i out of range is
// ignored and reported as not marked before.
func (b bitset) set(i int64) (was bool) {
	w := i / 64
	if i < 0 || w >= int64(len(b)) {
		return false
	}
	m := uint64(1) << (i % 64)
	was = b[w]&m != 0
	b[w] |= m
	return was
}

func (b bitset) has(i int64) bool {
	w := i / 64
	return i >= 0 && w < int64(len(b)) && b[w]&(uint64(1)<<(i%64)) != 0
}

func (b bitset) count() int64 {
	var n int
	for _, w := range b {
		n += bits.OnesCount64(w)
	}
	return int64(n)
}

// countAnd returns how many bits are marked in both b and o.
func (b bitset) countAnd(o bitset) int64 {
	var n int
	for i := 0; i < len(b) && i < len(o); i++ {
		n += bits.OnesCount64(b[i] & o[i])
	}
	return int64(n)
}
