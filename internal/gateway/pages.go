package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
)

// indexHTML is the page at / and /matchmaker: what this is, and a tiny
// websocket tester that speaks the client protocol from the browser.
const indexHTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>bevygap matchmaker gateway</title>
<style>body{font-family:sans-serif;max-width:46em;margin:2em auto;padding:0 1em}pre{background:#f4f4f4;padding:1em;min-height:6em;white-space:pre-wrap}input{width:12em}</style>
</head><body>
<h1>bevygap matchmaker gateway</h1>
<p>Game clients (<code>bevygap_client_plugin</code>) open a websocket to <code>/matchmaker/ws</code>,
send one message <code>{"game":"..","version":"..","client_ip":null}</code> and receive the
matchmaker's progress until a <code>SessionReady</code> message carries their seat on an Edgegap game server.</p>
<p>Other routes: <code>POST /matchmaker/request/{game}/{version}</code> (the same as JSON lines),
<code>POST /matchmaker/wannaplay</code>, <code>/healthz</code>, <code>/readyz</code>, <code>/metrics</code>.</p>
<h2>Try it</h2>
<form id="f">game <input id="game" value="bevygap-spaceships"> version <input id="version" value="1">
<button>Request a session</button></form>
<pre id="log"></pre>
<script>
document.getElementById("f").onsubmit = function (ev) {
  ev.preventDefault();
  var log = document.getElementById("log");
  function say(s) { log.textContent += s + "\n"; }
  log.textContent = "";
  var proto = location.protocol === "https:" ? "wss:" : "ws:";
  var ws = new WebSocket(proto + "//" + location.host + "/matchmaker/ws");
  ws.onopen = function () {
    ws.send(JSON.stringify({game: document.getElementById("game").value,
      version: document.getElementById("version").value, client_ip: null}));
    say("> request sent");
  };
  ws.onmessage = function (m) { say("< " + m.data); };
  ws.onclose = function (c) { say("closed " + c.code + " " + c.reason); };
  ws.onerror = function () { say("websocket error"); };
};
</script>
</body></html>
`

const hookIndexHTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>bevygap webhook sink</title></head><body>
<h1>bevygap webhook sink</h1>
<p>POST a body to <code>/hook/{name}</code> and it is published on the NATS subject <code>webhook.{name}</code>.</p>
</body></html>
`

func (s *Server) handleIndex(w http.ResponseWriter, r *http.Request) {
	writePage(w, indexHTML)
}

func (s *Server) handleHookIndex(w http.ResponseWriter, r *http.Request) {
	writePage(w, hookIndexHTML)
}

func writePage(w http.ResponseWriter, page string) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'")
	_, _ = w.Write([]byte(page))
}

// handleHealthz: the process is alive.
func (s *Server) handleHealthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ok"))
}

// handleReadyz: NATS is connected and, for the client routes, a gensession
// service of this namespace answers.
func (s *Server) handleReadyz(w http.ResponseWriter, r *http.Request, routes Routes) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := s.checkReady(r.Context(), routes); err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("not ready: " + err.Error()))
		return
	}
	_, _ = w.Write([]byte("ready"))
}

func (s *Server) checkReady(ctx context.Context, routes Routes) error {
	select {
	case <-s.stopping:
		return errors.New("shutting down")
	default:
	}
	if !s.nc.IsConnected() {
		return errors.New("nats not connected (" + s.nc.Status().String() + ")")
	}
	if routes&ServeMatchmaker == 0 {
		return nil
	}
	return s.ready.check(ctx, s)
}

// readyCache remembers a successful matchmaker probe for a short while so
// frequent probes from several load balancers cost one NATS round trip.
type readyCache struct {
	mu     sync.Mutex
	okTill time.Time
}

const readyCacheTTL = 2 * time.Second

func (c *readyCache) check(ctx context.Context, s *Server) error {
	c.mu.Lock()
	defer c.mu.Unlock() // one probe at a time
	if time.Now().Before(c.okTill) {
		return nil
	}
	if err := s.probeGensession(ctx); err != nil {
		return err
	}
	c.okTill = time.Now().Add(readyCacheTTL)
	return nil
}

// gensessionSubject is the subject of the gensession micro endpoint.
func (s *Server) gensessionSubject() string { return s.cfg.Names.GenSession() }

// probeGensession asks every "gensession" micro service for its INFO (nats
// micro discovery, $SRV.INFO.gensession) and waits until one serves this
// namespace's endpoint subject: services of other namespaces sharing the
// account do not count.
func (s *Server) probeGensession(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.ReadyTimeout)
	defer cancel()
	subj, _ := micro.ControlSubject(micro.InfoVerb, "gensession", "")
	want := s.gensessionSubject()
	w := s.replies.register()
	defer w.done()
	if err := s.nc.PublishMsg(&nats.Msg{Subject: subj, Reply: w.inbox}); err != nil {
		return err
	}
	for {
		select {
		case <-ctx.Done():
			return errors.New("no gensession service answers for " + want)
		case <-w.notify:
		}
		msgs, _ := w.take()
		for _, m := range msgs {
			if isNoResponders(m) {
				return errors.New("no gensession service is running")
			}
			var info micro.Info
			if json.Unmarshal(m.Data, &info) != nil {
				continue
			}
			for _, ep := range info.Endpoints {
				if ep.Subject == want {
					return nil
				}
			}
		}
	}
}
