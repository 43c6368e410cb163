// Writes the golden vectors of Tests/EtcdServerTests/GoSortTests.swift: inputs with many ties
// sorted by Go's sort.Sort (ascending and through sort.Reverse), each result given as the input
// positions in output order. Generated with Go 1.24 (the Go the etcd 3.5.16 reference is built
// with; Go 1.19 breaks patterns with another xorshift and orders some ties differently):
//
//	go run Tests/tools/gosort-vectors.go > Tests/EtcdServerTests/Fixtures/gosort-vectors.txt
//
// Each line: "<asc|desc> <values, comma-separated> | <permutation, comma-separated>".
package main

import (
	"fmt"
	"math/rand"
	"sort"
	"strings"
)

type item struct{ v, pos int }
type byV []item

func (s byV) Len() int           { return len(s) }
func (s byV) Less(i, j int) bool { return s[i].v-s[j].v < 0 }
func (s byV) Swap(i, j int)      { s[i], s[j] = s[j], s[i] }

func join(xs []int) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = fmt.Sprint(x)
	}
	return strings.Join(parts, ",")
}

func emit(dir string, values []int) {
	items := make(byV, len(values))
	for i, v := range values {
		items[i] = item{v, i}
	}
	if dir == "asc" {
		sort.Sort(items)
	} else {
		sort.Sort(sort.Reverse(items))
	}
	perm := make([]int, len(items))
	for i, it := range items {
		perm[i] = it.pos
	}
	fmt.Printf("%s %s | %s\n", dir, join(values), join(perm))
}

func main() {
	r := rand.New(rand.NewSource(20261207))
	shapes := []func(n int) []int{
		func(n int) []int { v := make([]int, n); for i := range v { v[i] = r.Intn(4) }; return v },       // few distinct
		func(n int) []int { v := make([]int, n); for i := range v { v[i] = r.Intn(n) }; return v },       // some ties
		func(n int) []int { v := make([]int, n); return v },                                               // all equal
		func(n int) []int { v := make([]int, n); for i := range v { v[i] = n - i/3 }; return v },         // decreasing runs
		func(n int) []int { v := make([]int, n); for i := range v { v[i] = i / 5 }; return v },           // increasing runs
		func(n int) []int { v := make([]int, n); for i := range v { v[i] = i % 7 }; return v },           // sawtooth
		func(n int) []int { v := make([]int, n); for i := range v { v[i] = i / 5 }; v[n/2], v[n-1] = v[n-1], v[n/2]; return v }, // nearly sorted
	}
	for _, n := range []int{2, 5, 12, 13, 20, 49, 50, 51, 64, 100, 257, 1000} {
		for _, shape := range shapes {
			values := shape(n)
			emit("asc", values)
			emit("desc", values)
		}
	}
}
