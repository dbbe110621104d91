package edgegapsim_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/bevygap/bevygap/pkg/edgegapsim"
)

func TestPagination(t *testing.T) {
	_, c := start(t, edgegapsim.Config{Sockets: 10})
	var ids []string
	for range 5 {
		id, _ := c.createSession(nil)
		ids = append(ids, id)
	}
	type page struct {
		Data []struct {
			SessionID string `json:"session_id"`
			Status    string `json:"status"`
			Ready     bool   `json:"ready"`
			Linked    bool   `json:"linked"`
			Kind      string `json:"kind"`
			UserCount int    `json:"user_count"`
			RequestID string `json:"deployment_request_id"`
		} `json:"data"`
		TotalCount int `json:"total_count"`
		Pagination struct {
			Number    int  `json:"number"`
			Next      *int `json:"next_page_number"`
			Previous  *int `json:"previous_page_number"`
			Paginator struct {
				NumPages int `json:"num_pages"`
			} `json:"paginator"`
			HasNext     bool `json:"has_next"`
			HasPrevious bool `json:"has_previous"`
		} `json:"pagination"`
	}
	var got []string
	for n := 1; n <= 4; n++ {
		var p page
		c.mustStatus(c.do("GET", fmt.Sprintf("/v1/sessions?page=%d&limit=2", n), nil), 200).decode(t, &p)
		if p.TotalCount != 5 || p.Pagination.Number != n || p.Pagination.Paginator.NumPages != 3 {
			t.Errorf("page %d: total %d number %d pages %d", n, p.TotalCount, p.Pagination.Number, p.Pagination.Paginator.NumPages)
		}
		wantLen := map[int]int{1: 2, 2: 2, 3: 1, 4: 0}[n]
		if len(p.Data) != wantLen {
			t.Errorf("page %d has %d sessions, want %d", n, len(p.Data), wantLen)
		}
		if p.Pagination.HasNext != (n < 3) || p.Pagination.HasPrevious != (n > 1) {
			t.Errorf("page %d: has_next %v has_previous %v", n, p.Pagination.HasNext, p.Pagination.HasPrevious)
		}
		if (p.Pagination.Next != nil) != (n < 3) || (n < 3 && *p.Pagination.Next != n+1) {
			t.Errorf("page %d: next_page_number %v", n, p.Pagination.Next)
		}
		if n == 1 && p.Pagination.Previous != nil {
			t.Errorf("page 1 has previous_page_number %d", *p.Pagination.Previous)
		}
		for _, s := range p.Data {
			if s.Status != "Ready" || !s.Ready || !s.Linked || s.Kind != "Seat" || s.UserCount != 1 || s.RequestID == "" {
				t.Errorf("unexpected listed session %+v", s)
			}
			got = append(got, s.SessionID)
		}
	}
	if !slices.Equal(got, ids) {
		t.Errorf("listed %v, want creation order %v", got, ids)
	}
	var def page
	c.mustStatus(c.do("GET", "/v1/sessions", nil), 200).decode(t, &def)
	if len(def.Data) != 5 || def.Pagination.Number != 1 || def.Pagination.HasNext {
		t.Errorf("default page: %d sessions, number %d, has_next %v", len(def.Data), def.Pagination.Number, def.Pagination.HasNext)
	}
	for _, q := range []string{"page=0", "page=x", "limit=0", "limit=-3"} {
		errMessage(t, c.mustStatus(c.do("GET", "/v1/sessions?"+q, nil), 400))
	}
}

func TestAuth(t *testing.T) {
	_, c := start(t, edgegapsim.Config{})
	for _, auth := range []string{"", "token wrong", "bevygap-dev", "Token bevygap-dev", "bearer bevygap-dev"} {
		r := c.do("GET", "/v1/apps", nil, auth)
		if r.status != 401 {
			t.Errorf("authorization %q: status %d, want 401", auth, r.status)
			continue
		}
		errMessage(t, r)
	}
	c.mustStatus(c.do("GET", "/v1/apps", nil, "token bevygap-dev"), 200)

	_, c2 := start(t, edgegapsim.Config{APIKey: "s3cret"})
	c2.mustStatus(c2.do("GET", "/v1/apps", nil, "token s3cret"), 200)
	c2.mustStatus(c2.do("GET", "/v1/apps", nil, "s3cret"), 401)

	if _, err := edgegapsim.New(edgegapsim.Config{APIKey: "token two words"}); err == nil {
		t.Error("New accepted an API key with a space inside")
	}
}
