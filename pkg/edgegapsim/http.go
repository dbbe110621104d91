package edgegapsim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"
)

// ServeHTTP implements http.Handler.
func (s *Simulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mux.ServeHTTP(w, r)
}

type authMode int

const (
	authNone authMode = iota
	authAPIKey
)

func (s *Simulator) routes() {
	m := http.NewServeMux()
	api := func(pattern, endpoint string, auth authMode, h http.HandlerFunc) {
		m.Handle(pattern, s.endpoint(endpoint, auth, h))
	}
	api("POST /v1/session", EndpointSessionPost, authAPIKey, s.handleSessionPost)
	api("GET /v1/session/{id}", EndpointGetSession, authAPIKey, s.handleSessionGet)
	api("DELETE /v1/session/{id}", EndpointSessionDelete, authAPIKey, s.handleSessionDelete)
	api("GET /v1/sessions", EndpointListSessions, authAPIKey, s.handleSessionsList)
	api("POST /v1/sessions/bulk-stop", EndpointSessionsBulkStop, authAPIKey, s.handleBulkStop)
	api("GET /v1/apps", EndpointApplicationsGet, authAPIKey, s.handleAppsList)
	api("GET /v1/app/{app}", EndpointApplicationGet, authAPIKey, s.handleAppGet)
	api("GET /v1/app/{app}/versions", EndpointAppVersionsGet, authAPIKey, s.handleVersionsList)
	api("GET /v1/app/{app}/version/{version}", EndpointAppVersionGet, authAPIKey, s.handleVersionGet)
	api("PATCH /v1/app/{app}/version/{version}", EndpointAppVersionsPatch, authAPIKey, s.handleVersionPatch)
	api("GET /v1/deployments", EndpointDeploymentsGet, authAPIKey, s.handleDeploymentsList)
	api("GET /v1/status/{id}", EndpointDeploymentStatusGet, authAPIKey, s.handleStatus)
	api("DELETE /v1/stop/{id}", EndpointDeploymentDelete, authAPIKey, s.handleStop)
	api("POST /v2/deployments", EndpointDeploymentCreate, authAPIKey, s.handleV2Create)
	api("POST /v1/deployments/bulk-stop", EndpointDeploymentsBulkStop, authAPIKey, s.handleDeploymentsBulkStop)
	api("POST /v1/deployments/{id}/tags", EndpointDeploymentTagCreate, authAPIKey, s.handleTagCreate)
	api("GET /v1/deployments/{id}/tags", EndpointDeploymentTagList, authAPIKey, s.handleTagList)
	api("DELETE /v1/deployments/{id}/tags/{tag}", EndpointDeploymentTagDelete, authAPIKey, s.handleTagDelete)
	api("GET /v1/context/{id}/{n}", EndpointContextGet, authNone, s.handleContext)
	api("DELETE /v1/self/stop/{id}/{n}", EndpointSelfDeploymentDelete, authNone, s.handleSelfStop)
	m.HandleFunc("GET /_sim/faults", s.handleFaultsGet)
	m.HandleFunc("PUT /_sim/faults/{endpoint}", s.handleFaultsPut)
	m.HandleFunc("GET /_sim/stats", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.Stats())
	})
	m.Handle("/", s.endpoint(EndpointUnknown, authNone, func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "Not Found")
	}))
	s.mux = m
}

// recorder remembers the status written.
type recorder struct {
	http.ResponseWriter
	status int
}

func (r *recorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
	r.ResponseWriter.WriteHeader(status)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

// endpoint wraps a handler with stats, faults, auth and rate limits.
func (s *Simulator) endpoint(name string, auth authMode, h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrival := time.Now()
		rec := &recorder{ResponseWriter: w}
		dropped := false
		defer func() {
			st := rec.status
			if dropped {
				st = StatusDropped
			} else if st == 0 {
				st = http.StatusOK
			}
			s.calls.record(name, st, arrival)
		}()
		if s.isClosed() {
			writeError(rec, http.StatusServiceUnavailable, "simulator closed")
			return
		}
		ef := s.epFaults.decide(name)
		if !s.injectBefore(rec, r, name, ef) {
			return
		}
		if auth == authAPIKey && r.Header.Get("Authorization") != s.apiKey {
			writeError(rec, http.StatusUnauthorized, "invalid or missing API token")
			return
		}
		if wait, ok := s.limits.allow(name); !ok {
			rec.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
			writeError(rec, http.StatusTooManyRequests, "Too Many Requests: rate limit exceeded")
			return
		}
		if ef.capacity {
			s.capacityError(rec)
			return
		}
		r.Body = http.MaxBytesReader(rec, r.Body, maxRequestBody)
		// Handlers answer while holding the simulator's lock; buffer the
		// answer so that a slow client never blocks the lock.
		buf := &bufferedWriter{header: make(http.Header)}
		h(buf, r)
		if done := buf.status == 0 || (buf.status >= 200 && buf.status <= 299); done && (ef.drop || ef.ghost != 0) {
			// A ghost create: done, but the caller never learns it.
			if ef.drop {
				dropped = true
				panic(http.ErrAbortHandler)
			}
			writeError(rec, ef.ghost, fmt.Sprintf("injected ghost fault: %s", http.StatusText(ef.ghost)))
			return
		}
		buf.flush(rec)
	})
}

// StatusDropped is the status Stats counts a dropped connection under (a
// ghost create with GhostDrop).
const StatusDropped = 0

// injectBefore applies the faults decided before any processing: latency,
// then FailNext and Faults, then the endpoint's own error rate. It returns
// false when it answered the request.
func (s *Simulator) injectBefore(w http.ResponseWriter, r *http.Request, name string, ef fault) bool {
	latency, injected, retryAfter := s.faults.decide(name)
	if latency += ef.latency; latency > 0 && !s.sleep(r.Context(), latency) {
		writeError(w, http.StatusServiceUnavailable, "request cancelled")
		return false
	}
	if injected == 0 {
		injected = ef.status
	}
	switch {
	case injected == http.StatusTooManyRequests:
		w.Header().Set("Retry-After", formatRetryAfter(retryAfter))
		writeError(w, injected, "Too Many Requests")
		return false
	case injected != 0:
		writeError(w, injected, fmt.Sprintf("injected fault: %s", http.StatusText(injected)))
		return false
	}
	return true
}

// bufferedWriter is an http.ResponseWriter that keeps the response in
// memory until flush.
type bufferedWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *bufferedWriter) Header() http.Header { return b.header }

func (b *bufferedWriter) WriteHeader(status int) {
	if b.status == 0 {
		b.status = status
	}
}

func (b *bufferedWriter) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	return b.body.Write(p)
}

func (b *bufferedWriter) flush(w http.ResponseWriter) {
	for k, v := range b.header {
		w.Header()[k] = v
	}
	if b.status == 0 {
		b.status = http.StatusOK
	}
	w.WriteHeader(b.status)
	_, _ = w.Write(b.body.Bytes())
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"message":"encode response"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
	_, _ = w.Write([]byte("\n"))
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"message": msg})
}

// apiError is a request Edgegap refuses: an HTTP status and a message.
type apiError struct {
	status int
	msg    string
}

func (e *apiError) Error() string { return e.msg }

func badRequest(format string, args ...any) *apiError {
	return &apiError{status: http.StatusBadRequest, msg: fmt.Sprintf(format, args...)}
}

// decodeBody decodes a bounded JSON request body.
func decodeBody(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	if err := dec.Decode(v); err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return fmt.Errorf("request body larger than %d bytes", maxRequestBody)
		}
		return fmt.Errorf("invalid JSON body: %v", err)
	}
	if dec.More() {
		return errors.New("invalid JSON body: trailing data")
	}
	return nil
}

// pageParams reads page and limit query parameters.
func pageParams(r *http.Request) (page, limit int, err error) {
	page, limit = 1, DefaultPageSize
	q := r.URL.Query()
	if v := q.Get("page"); v != "" {
		page, err = strconv.Atoi(v)
		if err != nil || page < 1 {
			return 0, 0, fmt.Errorf("page %q: want an integer >= 1", v)
		}
	}
	if v := q.Get("limit"); v != "" {
		limit, err = strconv.Atoi(v)
		if err != nil || limit < 1 {
			return 0, 0, fmt.Errorf("limit %q: want an integer >= 1", v)
		}
		limit = min(limit, MaxPageSize)
	}
	return page, limit, nil
}

// servePage answers a paginated list call with Edgegap's envelope: the page
// of list() (called under s.mu) the query asks for, each item converted.
func servePage[T, U any](s *Simulator, w http.ResponseWriter, r *http.Request, list func() []T, item func(T) U) {
	page, limit, err := pageParams(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	all := list()
	start, end, p := pageBounds(len(all), page, limit)
	data := make([]U, 0, end-start)
	for _, v := range all[start:end] {
		data = append(data, item(v))
	}
	writeJSON(w, http.StatusOK, struct {
		Data       []U        `json:"data"`
		TotalCount int        `json:"total_count"`
		Pagination pagination `json:"pagination"`
	}{data, len(all), p})
}

// pageBounds returns the slice bounds of a page and Edgegap's pagination
// object.
func pageBounds(total, page, limit int) (start, end int, p pagination) {
	numPages := max(1, (total+limit-1)/limit)
	start = min((page-1)*limit, total)
	end = min(start+limit, total)
	p = pagination{
		Number:      page,
		Paginator:   paginator{NumPages: numPages},
		HasNext:     page < numPages,
		HasPrevious: page > 1,
	}
	if p.HasNext {
		n := page + 1
		p.NextPageNumber = &n
	}
	if p.HasPrevious {
		n := min(page-1, numPages)
		p.PreviousPageNumber = &n
	}
	return start, end, p
}

// pagination is Edgegap's pagination object; unlike the generated model it
// writes null for absent page numbers, as Edgegap's examples do.
type pagination struct {
	Number             int       `json:"number"`
	NextPageNumber     *int      `json:"next_page_number"`
	PreviousPageNumber *int      `json:"previous_page_number"`
	Paginator          paginator `json:"paginator"`
	HasNext            bool      `json:"has_next"`
	HasPrevious        bool      `json:"has_previous"`
}

type paginator struct {
	NumPages int `json:"num_pages"`
}

func ptr[T any](v T) *T { return &v }
