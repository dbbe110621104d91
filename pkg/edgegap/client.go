package edgegap

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/bevygap/bevygap/pkg/edgegap/gen"
	"github.com/bevygap/bevygap/pkg/edgegap/gen/edgegapv1"
	"github.com/bevygap/bevygap/pkg/edgegap/gen/edgegapv2"
)

// DefaultBaseURL is Edgegap's API.
const DefaultBaseURL = "https://api.edgegap.com"

// Defaults for the zero values of Config.
const (
	DefaultMaxAttempts      = 5
	DefaultMinBackoff       = 100 * time.Millisecond
	DefaultMaxBackoff       = 5 * time.Second
	DefaultMaxRetryAfter    = 30 * time.Second
	DefaultMaxResponseBytes = 8 << 20
	DefaultPageSize         = 100
	DefaultUserAgent        = "bevygap"
	DefaultTimeout          = 30 * time.Second
)

// ContextUserAgent is the User-Agent the Rust game-server plugin sends to the
// context endpoint; GetContext sends the same.
const ContextUserAgent = "bevy_edgegap_gameserver"

const (
	tokenPrefix = "token "
	redacted    = "[REDACTED]"
)

// Config configures a Client. The zero value of every field but APIKey is a
// usable default.
type Config struct {
	// BaseURL of the API, without a trailing slash. Default DefaultBaseURL.
	BaseURL string
	// APIKey is the Edgegap API key, "token XXX" or a bare "XXX" (sent as
	// "token XXX"). It may be empty for a client that only calls
	// GetContext; other methods then fail with ErrNoAPIKey.
	APIKey string
	// HTTPClient sends the requests. Default: a client with its own
	// transport and a DefaultTimeout per attempt.
	HTTPClient *http.Client
	// UserAgent for API calls. Default DefaultUserAgent.
	UserAgent string
	// MaxAttempts bounds the HTTP attempts per call, the first included.
	// Default DefaultMaxAttempts; 1 disables retries.
	MaxAttempts int
	// MinBackoff and MaxBackoff bound the exponential backoff between
	// attempts (jittered between half and all of min*2^(n-1), capped at
	// max). Defaults DefaultMinBackoff and DefaultMaxBackoff.
	MinBackoff, MaxBackoff time.Duration
	// MaxRetryAfter is the longest Retry-After the client waits for; a
	// longer one ends the call with the 429/503 error. Default
	// DefaultMaxRetryAfter.
	MaxRetryAfter time.Duration
	// MaxResponseBytes bounds every response body. Default
	// DefaultMaxResponseBytes.
	MaxResponseBytes int64
	// PageSize is the page size ListAllSessions and ListDeployments ask for.
	// Default DefaultPageSize.
	PageSize int
	// Budget is the client-side rate budget. Share one Budget between all
	// clients of a process that use the same API key. Default:
	// ProcessBudget(APIKey), shared by every client of the process created
	// without a Budget for the same key.
	Budget *Budget
	// Logger receives debug logs of retries. Default: discard.
	Logger *slog.Logger
	// OnCall, if set, is called after every HTTP attempt with the endpoint
	// name (an Edgegap operation id such as "get-session") and the HTTP
	// status, 0 for a transport error. It must be safe for concurrent use
	// and fast (e.g. increment a Prometheus counter).
	OnCall func(endpoint string, status int)
}

// String describes the config with the API key redacted.
func (c Config) String() string {
	key := ""
	if c.APIKey != "" {
		key = redacted
	}
	return fmt.Sprintf("edgegap.Config{BaseURL: %q, APIKey: %q, MaxAttempts: %d, MinBackoff: %s, MaxBackoff: %s, MaxRetryAfter: %s, MaxResponseBytes: %d, PageSize: %d, UserAgent: %q}",
		c.BaseURL, key, c.MaxAttempts, c.MinBackoff, c.MaxBackoff, c.MaxRetryAfter, c.MaxResponseBytes, c.PageSize, c.UserAgent)
}

// GoString is String, so that %#v does not print the key either.
func (c Config) GoString() string { return c.String() }

// LogValue implements slog.LogValuer with the API key redacted.
func (c Config) LogValue() slog.Value {
	key := ""
	if c.APIKey != "" {
		key = redacted
	}
	return slog.GroupValue(
		slog.String("base_url", c.BaseURL),
		slog.String("api_key", key),
		slog.Int("max_attempts", c.MaxAttempts),
	)
}

// NormalizeAPIKey returns key in the form Edgegap expects, "token XXX". A
// bare "XXX" gets the prefix; "token XXX" (any case of "token") is kept. An
// empty key stays empty. Keys with whitespace or control characters inside
// are rejected; the error does not contain the key.
func NormalizeAPIKey(key string) (string, error) {
	key = strings.TrimSpace(key)
	if key == "" {
		return "", nil
	}
	if strings.EqualFold(key, strings.TrimSpace(tokenPrefix)) {
		return "", errors.New("edgegap: api key is only the \"token\" prefix")
	}
	bare := key
	if len(key) >= len(tokenPrefix) && strings.EqualFold(key[:len(tokenPrefix)], tokenPrefix) {
		bare = strings.TrimSpace(key[len(tokenPrefix):])
	}
	if bare == "" {
		return "", errors.New("edgegap: api key is empty after the \"token \" prefix")
	}
	for _, r := range bare {
		if r <= ' ' || r == 0x7f {
			return "", errors.New("edgegap: api key contains whitespace or control characters")
		}
	}
	return tokenPrefix + bare, nil
}

// Client calls the Edgegap API. It is safe for concurrent use.
type Client struct {
	gen         *gen.Client       // 2024 API (sessions)
	gen1        *edgegapv1.Client // 2026 v1 API (deployment status, list, stop, tags)
	gen2        *edgegapv2.Client // 2026 v2 API (POST /v2/deployments)
	hc          *http.Client
	ownHC       bool
	baseURL     string
	apiKey      string
	userAgent   string
	maxAttempts int
	minBackoff  time.Duration
	maxBackoff  time.Duration
	maxRetry    time.Duration
	maxBody     int64
	pageSize    int
	budget      *Budget
	log         *slog.Logger
	onCall      func(string, int)
}

// New returns a Client for cfg.
func New(cfg Config) (*Client, error) {
	key, err := NormalizeAPIKey(cfg.APIKey)
	if err != nil {
		return nil, err
	}
	base := strings.TrimRight(cfg.BaseURL, "/")
	if base == "" {
		base = DefaultBaseURL
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("edgegap: base url %q: want an absolute http(s) url", cfg.BaseURL)
	}
	c := &Client{
		hc:          cfg.HTTPClient,
		baseURL:     base,
		apiKey:      key,
		userAgent:   cfg.UserAgent,
		maxAttempts: cfg.MaxAttempts,
		minBackoff:  cfg.MinBackoff,
		maxBackoff:  cfg.MaxBackoff,
		maxRetry:    cfg.MaxRetryAfter,
		maxBody:     cfg.MaxResponseBytes,
		pageSize:    cfg.PageSize,
		budget:      cfg.Budget,
		log:         cfg.Logger,
		onCall:      cfg.OnCall,
	}
	if c.hc == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		c.hc = &http.Client{Transport: tr, Timeout: DefaultTimeout}
		c.ownHC = true
	}
	if c.userAgent == "" {
		c.userAgent = DefaultUserAgent
	}
	if c.maxAttempts <= 0 {
		c.maxAttempts = DefaultMaxAttempts
	}
	if c.minBackoff <= 0 {
		c.minBackoff = DefaultMinBackoff
	}
	if c.maxBackoff <= 0 {
		c.maxBackoff = DefaultMaxBackoff
	}
	c.maxBackoff = max(c.maxBackoff, c.minBackoff)
	if c.maxRetry <= 0 {
		c.maxRetry = DefaultMaxRetryAfter
	}
	if c.maxBody <= 0 {
		c.maxBody = DefaultMaxResponseBytes
	}
	if c.pageSize <= 0 {
		c.pageSize = DefaultPageSize
	}
	if c.budget == nil {
		c.budget = ProcessBudget(key)
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	c.gen, err = gen.NewClient(base, gen.WithHTTPClient(c.hc), gen.WithRequestEditorFn(c.editRequest))
	if err != nil {
		return nil, fmt.Errorf("edgegap: %w", err)
	}
	c.gen1, err = edgegapv1.NewClient(base, edgegapv1.WithHTTPClient(c.hc), edgegapv1.WithRequestEditorFn(c.editRequest))
	if err != nil {
		return nil, fmt.Errorf("edgegap: %w", err)
	}
	// The v2 specification's server is https://api.edgegap.com/v2.
	c.gen2, err = edgegapv2.NewClient(base+"/v2", edgegapv2.WithHTTPClient(c.hc), edgegapv2.WithRequestEditorFn(c.editRequest))
	if err != nil {
		return nil, fmt.Errorf("edgegap: %w", err)
	}
	return c, nil
}

// BaseURL returns the API base URL the client uses.
func (c *Client) BaseURL() string { return c.baseURL }

// Budget returns the client's rate budget.
func (c *Client) Budget() *Budget { return c.budget }

// CloseIdleConnections closes idle keep-alive connections of the client's
// HTTP transport. Call it when done with a client that created its own.
func (c *Client) CloseIdleConnections() { c.hc.CloseIdleConnections() }

// editRequest adds the API key and the usual headers to generated requests.
func (c *Client) editRequest(_ context.Context, req *http.Request) error {
	req.Header.Set("Authorization", c.apiKey)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)
	return nil
}

// withPage adds page and limit query parameters to a request.
func withPage(page, limit int) gen.RequestEditorFn {
	return func(_ context.Context, req *http.Request) error {
		q := req.URL.Query()
		if page > 0 {
			q.Set("page", strconv.Itoa(page))
		}
		if limit > 0 {
			q.Set("limit", strconv.Itoa(limit))
		}
		req.URL.RawQuery = q.Encode()
		return nil
	}
}

func (c *Client) needKey(op string) error {
	if c.apiKey == "" {
		return fmt.Errorf("edgegap %s: %w", op, ErrNoAPIKey)
	}
	return nil
}

// response is a successful (2xx) answer, fully read.
type response struct {
	status int
	body   []byte
}

// call runs one API operation with the rate budget, retries and metrics.
// send performs a single HTTP attempt.
func (c *Client) call(ctx context.Context, op string, send func(ctx context.Context) (*http.Response, error)) (*response, error) {
	var lastErr error
	for attempt := 1; ; attempt++ {
		if err := c.budget.Wait(ctx, op); err != nil {
			return nil, c.giveUp(op, attempt-1, err, lastErr)
		}
		wait, rsp, err := c.try(ctx, op, attempt, send)
		if err == nil {
			return rsp, nil
		}
		if _, unknown := errors.AsType[*OutcomeUnknownError](err); unknown {
			return nil, err
		}
		if ctx.Err() != nil {
			// A transport error caused by the cancellation itself says
			// nothing new; keep the last API error instead.
			if _, isAPI := errors.AsType[*APIError](err); isAPI {
				lastErr = err
			}
			return nil, c.giveUp(op, attempt, ctx.Err(), lastErr)
		}
		if ae, ok := errors.AsType[*APIError](err); ok {
			ae.Attempts = attempt
		}
		// A create that got here failed with a 4xx or certainly did
		// nothing (try turned every other failure into an
		// OutcomeUnknownError), so it may be retried like any call.
		if !IsRetryable(err) || attempt >= c.maxAttempts {
			return nil, err
		}
		if wait > c.maxRetry {
			c.log.DebugContext(ctx, "edgegap retry-after too long, giving up", "endpoint", op, "attempt", attempt, "retry_after", wait)
			return nil, err
		}
		if wait <= 0 {
			wait = c.backoff(attempt)
		}
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
			return nil, c.giveUp(op, attempt, context.DeadlineExceeded, err)
		}
		c.log.DebugContext(ctx, "edgegap call failed, retrying", "endpoint", op, "attempt", attempt, "wait", wait, "err", err)
		lastErr = err
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, c.giveUp(op, attempt, ctx.Err(), err)
		case <-t.C:
		}
	}
}

// try makes attempt number n of op. A create (not idempotent) is not
// abandoned half-way once sent: cancelling it could lose the answer of a
// session or deployment Edgegap did create, so the attempt ignores ctx's
// cancellation and is bounded by its own timeout instead (the wait for the
// budget before it stays cancellable). A create's failure that Edgegap may
// nevertheless have carried out becomes an *OutcomeUnknownError.
func (c *Client) try(ctx context.Context, op string, n int, send func(ctx context.Context) (*http.Response, error)) (time.Duration, *response, error) {
	if idempotent(op) {
		return c.attempt(ctx, op, send)
	}
	attemptCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), DefaultTimeout)
	defer cancel()
	wait, rsp, err := c.attempt(attemptCtx, op, send)
	if err != nil && mayHaveBeenDone(err) {
		if ae, ok := errors.AsType[*APIError](err); ok {
			ae.Attempts = n
		}
		return 0, nil, &OutcomeUnknownError{Op: op, Err: err}
	}
	return wait, rsp, err
}

// idempotent reports whether repeating op cannot do it twice. Creating a
// session or a deployment is not: a retry after a 5xx or a broken
// connection, when Edgegap had in fact created the first one, would leave a
// paid server nobody knows about.
func idempotent(op string) bool {
	return op != EndpointSessionPost && op != EndpointDeploymentCreate
}

// mayHaveBeenDone reports whether a failed attempt may nevertheless have been
// carried out by Edgegap: anything but a 4xx answer (Edgegap refused it) or a
// failure that certainly did nothing.
func mayHaveBeenDone(err error) bool {
	if certainlyNotDone(err) {
		return false
	}
	if ae, ok := errors.AsType[*APIError](err); ok {
		return ae.Status >= 500
	}
	return true
}

// certainlyNotDone reports whether a failed attempt certainly did nothing on
// Edgegap's side: a 429 (rejected before processing) or a failure to connect.
func certainlyNotDone(err error) bool {
	if IsRateLimited(err) {
		return true
	}
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// giveUp wraps a context error with the last API error, if any, so that
// both errors.Is(err, context.Canceled) and errors.As(err, **APIError) work.
func (c *Client) giveUp(op string, attempts int, ctxErr, last error) error {
	if last == nil {
		return fmt.Errorf("edgegap %s: %w", op, ctxErr)
	}
	if ae, ok := errors.AsType[*APIError](last); ok {
		ae.Attempts = attempts
	}
	return fmt.Errorf("edgegap %s: %w (last error: %w)", op, ctxErr, last)
}

// attempt performs one HTTP attempt. On a retryable failure it returns the
// server's Retry-After (0 if none).
func (c *Client) attempt(ctx context.Context, op string, send func(ctx context.Context) (*http.Response, error)) (time.Duration, *response, error) {
	hrsp, err := send(ctx)
	if err != nil {
		c.report(op, 0)
		return 0, nil, fmt.Errorf("edgegap %s: %w", op, c.scrub(err))
	}
	body, rerr := readLimited(hrsp.Body, c.maxBody)
	hrsp.Body.Close()
	c.report(op, hrsp.StatusCode)
	if rerr != nil {
		if errors.Is(rerr, ErrResponseTooLarge) {
			return 0, nil, fmt.Errorf("edgegap %s: status %d: %w", op, hrsp.StatusCode, rerr)
		}
		return 0, nil, fmt.Errorf("edgegap %s: read response: %w", op, c.scrub(rerr))
	}
	if hrsp.StatusCode >= 200 && hrsp.StatusCode <= 299 {
		return 0, &response{status: hrsp.StatusCode, body: body}, nil
	}
	ra := parseRetryAfter(hrsp.Header.Get("Retry-After"), time.Now())
	return ra, nil, &APIError{
		Op:         op,
		Status:     hrsp.StatusCode,
		Message:    errorMessage(body, c.apiKey),
		RetryAfter: ra,
		Attempts:   1,
		RequestID:  errorRequestID(body),
	}
}

func (c *Client) report(op string, status int) {
	if c.onCall != nil {
		c.onCall(op, status)
	}
}

// scrub makes sure no error text carries the API key. Transport errors name
// the URL, never headers, so this is a safety net that keeps the error
// chain intact when there is nothing to remove.
func (c *Client) scrub(err error) error {
	if c.apiKey == "" || err == nil {
		return err
	}
	s := err.Error()
	if r := redact(s, c.apiKey); r != s {
		return &scrubbedError{msg: r, err: err}
	}
	return err
}

type scrubbedError struct {
	msg string
	err error
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.err }

// backoff returns the jittered exponential delay before attempt+1.
func (c *Client) backoff(attempt int) time.Duration {
	d := c.minBackoff
	for i := 1; i < attempt && d < c.maxBackoff; i++ {
		d *= 2
	}
	d = min(d, c.maxBackoff)
	half := d / 2
	return half + rand.N(d-half+1)
}

// parseRetryAfter parses a Retry-After header: delay-seconds (a decimal
// fraction is accepted too) or an HTTP date. It returns 0 when absent or
// invalid.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		if secs <= 0 || math.IsNaN(secs) {
			return 0
		}
		if secs > 24*3600 {
			secs = 24 * 3600
		}
		return time.Duration(secs * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

// readLimited reads all of r, failing with ErrResponseTooLarge beyond limit
// bytes.
func readLimited(r io.Reader, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%w (limit %d bytes)", ErrResponseTooLarge, limit)
	}
	return b, nil
}
