package edgegap

import (
	"fmt"
	"iter"

	"github.com/bevygap/bevygap/pkg/edgegap/gen"
)

// maxPages bounds pagination loops against a server that never stops
// saying has_next.
const maxPages = 10000

// pageInfo reads Edgegap's pagination block: the page number it names
// (page when it names none), the page count and has_next.
func pageInfo(p *gen.Pagination, page int) (number, numPages int, hasNext bool) {
	number = page
	if p == nil {
		return number, 0, false
	}
	if p.Number != nil {
		number = *p.Number
	}
	if p.Paginator != nil {
		numPages = deref(p.Paginator.NumPages)
	}
	return number, numPages, deref(p.HasNext)
}

// allPages walks pages 1, 2, ... of op through fetch and yields each item
// whose key it has not yielded yet (an item can move between pages while
// they are walked). It stops after a page without has_next or without
// items, and at the first error (more than maxPages pages is one), which it
// yields with a zero T.
func allPages[T any](op string, fetch func(page int) (items []T, hasNext bool, err error), key func(T) string) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		var zero T
		seen := make(map[string]bool)
		for page := 1; ; page++ {
			if page > maxPages {
				yield(zero, fmt.Errorf("edgegap %s: more than %d pages", op, maxPages))
				return
			}
			items, hasNext, err := fetch(page)
			if err != nil {
				yield(zero, err)
				return
			}
			for _, it := range items {
				k := key(it)
				if seen[k] {
					continue
				}
				seen[k] = true
				if !yield(it, nil) {
					return
				}
			}
			if !hasNext || len(items) == 0 {
				return
			}
		}
	}
}

// collect gathers seq into a slice (empty, not nil, when it yields nothing)
// or returns its first error.
func collect[T any](seq iter.Seq2[T, error]) ([]T, error) {
	all := []T{}
	for it, err := range seq {
		if err != nil {
			return nil, err
		}
		all = append(all, it)
	}
	return all, nil
}
