package web

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"securechat/app/metrics"
)

// Past --export-concurrency streaming exports, a download is refused with
// 503 and Retry-After before anything is read, and counted.
func TestExportConcurrency(t *testing.T) {
	m := metrics.New()
	s := &Server{exports: make(chan struct{}, 1), deps: Deps{Metrics: m}}
	s.exports <- struct{}{} // one export streaming
	rec := httptest.NewRecorder()
	c := echo.New().NewContext(httptest.NewRequest(http.MethodPost, "/settings/export", nil), rec)
	err := s.exportMine(c)
	var he *echo.HTTPError
	if !errors.As(err, &he) || he.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") != exportRetryAfter {
		t.Fatalf("export past the limit: %v, Retry-After %q; want 503 with Retry-After", err, rec.Header().Get("Retry-After"))
	}
	scrape := httptest.NewRecorder()
	m.Handler().ServeHTTP(scrape, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if !strings.Contains(scrape.Body.String(), "securechat_export_refusals_total 1\n") {
		t.Errorf("refusal not counted:\n%s", scrape.Body.String())
	}
	if len(s.exports) != 1 {
		t.Errorf("a refused export changed the slots: %d taken", len(s.exports))
	}
}
