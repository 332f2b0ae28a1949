package serve

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// checkListen refuses to serve beyond loopback without a token: run-now
// requests start writes to two business systems.
func checkListen(addr, token string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--listen %q: %w", addr, err)
	}
	if token == "" && !IsLoopback(host) {
		return fmt.Errorf("refusing to listen on %s without a token: beyond loopback, run-now requests need one; set --token or COUPLER_SERVE_TOKEN, or listen on 127.0.0.1", addr)
	}
	return nil
}

// IsLoopback reports whether host (a name or an address, without a port)
// is only reachable from this machine. An empty host means every
// interface, which is not.
func IsLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

// Handler returns serve's HTTP handler:
//
//	GET  /                  the status page
//	POST /runs?mapping=NAME run NAME now (token required when configured)
//	GET  /healthz           200 "ok", 503 while shutting down
//	GET  /metrics           Prometheus metrics
//	GET  /api/...           the read API (api.go), JSON as the CLI's --format json
//
// Every request is first checked by guard.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.handleStatus)
	mux.HandleFunc("POST /runs", s.handleRun)
	mux.HandleFunc("GET /healthz", s.handleHealth)
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.cfg.Registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /api/{what}", s.handleAPI)
	mux.HandleFunc("GET /api/plans/{ref}", s.handleAPIPlan)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
		if s.guard(rec, r) {
			mux.ServeHTTP(rec, r)
		}
		path := r.URL.Path
		if path != "/" && path != "/runs" && path != "/healthz" && path != "/metrics" {
			path = "other"
		}
		s.metrics.apiRequests.WithLabelValues(path, strconv.Itoa(rec.code)).Inc()
	})
}

// guard answers a request that may not go on and reports whether it may.
//
// A page on another site can rebind its own DNS name to serve's address
// and then read serve's answers, which to the browser are the page's own
// origin; its requests carry that name as Host. So a request without the
// token must name a Host that no such page can: a loopback name, an IP
// address (rebinding needs a name), or one of Config.AllowedHosts. A
// request with the token is the operator's, whatever its Host. With
// TokenForReads the status page, /metrics and the read API need the token
// too; /healthz never does, for probes.
func (s *Server) guard(w http.ResponseWriter, r *http.Request) bool {
	authorized := s.cfg.Token != "" && subtle.ConstantTimeCompare([]byte(requestToken(r)), []byte(s.cfg.Token)) == 1
	if authorized {
		return true
	}
	if !s.hostAllowed(r.Host) {
		http.Error(w, "Host "+strconv.Quote(r.Host)+" is not allowed: serve answers loopback names, IP addresses and --allow-host names, or requests with the token", http.StatusForbidden)
		return false
	}
	if s.cfg.TokenForReads && r.Method == http.MethodGet && (r.URL.Path == "/" || r.URL.Path == "/metrics" || strings.HasPrefix(r.URL.Path, "/api/")) {
		// Basic lets a browser ask for the token (any user name).
		w.Header().Set("WWW-Authenticate", `Basic realm="coupler", charset="UTF-8"`)
		w.Header().Add("WWW-Authenticate", `Bearer realm="coupler"`)
		http.Error(w, "a valid token is required: Authorization: Bearer <token>", http.StatusUnauthorized)
		return false
	}
	return true
}

// requestToken is the token a request carries: Authorization: Bearer, or
// the password of Authorization: Basic (what a browser sends once asked).
func requestToken(r *http.Request) string {
	if t, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		return t
	}
	if _, t, ok := r.BasicAuth(); ok {
		return t
	}
	return ""
}

// hostAllowed reports whether a request's Host is one no rebinding page
// can send: loopback, an IP address, or an allowed name.
func (s *Server) hostAllowed(hostport string) bool {
	if loopbackHost(hostport) {
		return true
	}
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.Trim(host, "[]"), ".")
	if net.ParseIP(host) != nil {
		return true
	}
	for _, a := range s.cfg.AllowedHosts {
		if strings.EqualFold(host, strings.TrimSuffix(a, ".")) {
			return true
		}
	}
	return false
}

type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.code = code
	r.ResponseWriter.WriteHeader(code)
}

func (s *Server) handleHealth(w http.ResponseWriter, _ *http.Request) {
	if s.draining.Load() {
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintln(w, "ok")
}

// handleRun queues a run of one mapping. A form from the status page is
// answered with a redirect back to it; anything else with JSON.
func (s *Server) handleRun(w http.ResponseWriter, r *http.Request) {
	form := strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded")
	reply := func(code int, msg string) {
		if form && code < 300 {
			http.Redirect(w, r, "/?queued="+url.QueryEscape(r.URL.Query().Get("mapping")), http.StatusSeeOther)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(map[string]any{"mapping": r.URL.Query().Get("mapping"), "message": msg})
	}
	// A page on another site must not make a browser on this machine start
	// runs: cross-origin posts are refused.
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		if err != nil || u.Host != r.Host {
			reply(http.StatusForbidden, "cross-origin request refused")
			return
		}
	}
	// Without a token only loopback may ask, and by a loopback name: a
	// page that rebinds its own host name to 127.0.0.1 sends its own name
	// as Host (and Origin), which the check above lets through.
	if s.cfg.Token == "" && !loopbackHost(r.Host) {
		reply(http.StatusForbidden, "a run-now request without a token must name a loopback host")
		return
	}
	if s.cfg.Token != "" {
		given := requestToken(r)
		if given == "" && form {
			given = r.PostFormValue("token")
		}
		if subtle.ConstantTimeCompare([]byte(given), []byte(s.cfg.Token)) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="coupler"`)
			form = false
			reply(http.StatusUnauthorized, "a valid token is required: Authorization: Bearer <token>")
			return
		}
	}
	name := r.URL.Query().Get("mapping")
	if name == "" {
		reply(http.StatusBadRequest, "name the mapping: POST /runs?mapping=NAME")
		return
	}
	if err := s.Trigger(name); err != nil {
		code := http.StatusNotFound
		if errors.Is(err, errShuttingDown) {
			code = http.StatusServiceUnavailable
		}
		form = false
		reply(code, err.Error())
		return
	}
	s.log.Info("run requested", "mapping", name, "remote", r.RemoteAddr)
	reply(http.StatusAccepted, "queued: runs as soon as the run under way, if any, ends")
}

// loopbackHost reports whether host (a Host header, with or without a
// port) names the loopback interface: localhost or a loopback address.
func loopbackHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
