package serve

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/couplerhq/coupler/connectors/transport"
)

// metrics are serve's Prometheus metrics. docs/operations.md lists them
// and what to alert on.
type metrics struct {
	s            *Server
	runs         *prometheus.CounterVec
	records      *prometheus.CounterVec
	duration     *prometheus.HistogramVec
	lastSuccess  *prometheus.GaugeVec
	httpRequests *prometheus.CounterVec
	httpRetries  *prometheus.CounterVec
	reloads      *prometheus.CounterVec
	projectValid prometheus.Gauge
	apiRequests  *prometheus.CounterVec

	lagDesc, nextDesc, runningDesc, waitingDesc *prometheus.Desc
}

func newMetrics(s *Server, reg *prometheus.Registry) *metrics {
	m := &metrics{
		s: s,
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "coupler_runs_total",
			Help: "Runs of a mapping, by result: success, failure (the run failed as a whole), drained (stopped by shutdown) or waiting (its plan waits for a person's approval)."}, []string{"mapping", "result"}),
		records: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "coupler_records_total",
			Help: "Records handled by runs, by operation: inserted, modified, deleted, coupled, uncoupled, unchanged, skipped, failed."}, []string{"mapping", "operation"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "coupler_run_duration_seconds",
			Help:    "How long a run of a mapping (plan and apply) took.",
			Buckets: []float64{0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600}}, []string{"mapping"}),
		lastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "coupler_last_success_timestamp_seconds",
			Help: "When the last successful run of a mapping ended, as a Unix time."}, []string{"mapping"}),
		httpRequests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "coupler_http_requests_total",
			Help: "HTTP requests (each attempt) to a connector's service, by method and status code (\"error\" when no response came)."}, []string{"connector", "method", "code"}),
		httpRetries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "coupler_http_retries_total",
			Help: "HTTP requests to a connector's service that were attempts after a failed one (429, 503, connection errors)."}, []string{"connector"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "coupler_project_reloads_total",
			Help: "Reloads of the project after its files changed, by result: ok, or invalid (the previous version keeps running)."}, []string{"result"}),
		projectValid: prometheus.NewGauge(prometheus.GaugeOpts{Name: "coupler_project_valid",
			Help: "1 when the project files on disk are the ones running, 0 when the latest change was invalid and the previous version still runs."}),
		apiRequests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "coupler_serve_requests_total",
			Help: "Requests to serve's own HTTP listener, by path and status code."}, []string{"path", "code"}),
		lagDesc: prometheus.NewDesc("coupler_watermark_lag_seconds",
			"How far a mapping's watermark is behind now: records modified since then are not synchronized yet, as far as coupler knows.", []string{"mapping", "side"}, nil),
		nextDesc: prometheus.NewDesc("coupler_next_run_timestamp_seconds",
			"When a mapping runs next, as a Unix time (0 while it runs).", []string{"mapping"}, nil),
		runningDesc: prometheus.NewDesc("coupler_run_in_progress",
			"1 while a run of the mapping is under way.", []string{"mapping"}, nil),
		waitingDesc: prometheus.NewDesc("coupler_waiting_for_approval",
			"1 while the mapping's last plan waits for a person's approval: serve applies nothing of the mapping until then.", []string{"mapping"}, nil),
	}
	m.projectValid.Set(1)
	reg.MustRegister(m.runs, m.records, m.duration, m.lastSuccess, m.httpRequests, m.httpRetries, m.reloads, m.projectValid, m.apiRequests, m,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	transport.SetObserver(m)
	return m
}

func (m *metrics) observeRun(mapping string, d time.Duration, res Result, err error) {
	result := "success"
	switch {
	case errors.Is(err, ErrDrained) || errors.Is(err, errShuttingDown):
		result = "drained"
	case errors.Is(err, ErrNeedsReview):
		result = "waiting"
	case err != nil:
		result = "failure"
	}
	m.runs.WithLabelValues(mapping, result).Inc()
	for _, k := range countNames {
		if n := res.Counts[k]; n > 0 {
			m.records.WithLabelValues(mapping, k).Add(float64(n))
		}
	}
	m.duration.WithLabelValues(mapping).Observe(d.Seconds())
	if err == nil {
		m.lastSuccess.WithLabelValues(mapping).Set(float64(m.s.now().Unix()))
	}
}

// Describe implements prometheus.Collector for the metrics computed at
// scrape time.
func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- m.lagDesc
	ch <- m.nextDesc
	ch <- m.runningDesc
	ch <- m.waitingDesc
}

// Collect implements prometheus.Collector: watermark lag and the schedule,
// as of the scrape.
func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	now := m.s.now()
	for _, st := range m.s.sched.States() {
		next := 0.0
		if !st.Next.IsZero() {
			next = float64(st.Next.Unix())
		}
		ch <- prometheus.MustNewConstMetric(m.nextDesc, prometheus.GaugeValue, next, st.Name)
		running := 0.0
		if st.Running {
			running = 1
		}
		ch <- prometheus.MustNewConstMetric(m.runningDesc, prometheus.GaugeValue, running, st.Name)
	}
	m.s.mu.Lock()
	defer m.s.mu.Unlock()
	for name, lr := range m.s.last {
		waiting := 0.0
		if lr.Waiting {
			waiting = 1
		}
		ch <- prometheus.MustNewConstMetric(m.waitingDesc, prometheus.GaugeValue, waiting, name)
		for side, wm := range lr.Result.Watermarks {
			ch <- prometheus.MustNewConstMetric(m.lagDesc, prometheus.GaugeValue, now.Sub(wm).Seconds(), name, side)
		}
	}
}

// Attempt implements transport.Observer.
func (m *metrics) Attempt(req *http.Request, resp *http.Response, err error) {
	code := "error"
	if resp != nil {
		code = strconv.Itoa(resp.StatusCode)
	}
	m.httpRequests.WithLabelValues(m.connectorOf(req.URL), req.Method, code).Inc()
}

// Retry implements transport.Observer.
func (m *metrics) Retry(req *http.Request) {
	m.httpRetries.WithLabelValues(m.connectorOf(req.URL)).Inc()
}

// connectorOf names the connector whose base URL is the longest prefix of
// u; the host when none matches.
func (m *metrics) connectorOf(u *url.URL) string {
	s := u.String()
	m.s.mu.Lock()
	defer m.s.mu.Unlock()
	best, name := 0, u.Host
	for base, n := range m.s.project.Connectors {
		if strings.HasPrefix(s, base) && len(base) > best {
			best, name = len(base), n
		}
	}
	return name
}
