package web

import (
	"crypto/sha256"
	"encoding/base64"
	"io/fs"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
)

// registerStatic serves the embedded assets with strong ETags computed once at
// start, so browsers revalidate with If-None-Match and get 304s. (Embedded
// files have no modification time to offer instead.)
func (s *Server) registerStatic(e *echo.Echo) {
	etags := map[string]string{}
	fs.WalkDir(s.deps.Static, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		b, err := fs.ReadFile(s.deps.Static, path)
		if err != nil {
			return nil
		}
		sum := sha256.Sum256(b)
		etags[path] = `"` + base64.RawURLEncoding.EncodeToString(sum[:12]) + `"`
		return nil
	})
	files := http.StripPrefix("/static/", http.FileServer(http.FS(s.deps.Static)))
	e.GET("/static/*", func(c echo.Context) error {
		name := strings.TrimPrefix(c.Request().URL.Path, "/static/")
		tag, ok := etags[name]
		if !ok {
			return echo.ErrNotFound
		}
		h := c.Response().Header()
		h.Set("ETag", tag)
		h.Set("Cache-Control", "no-cache")
		files.ServeHTTP(c.Response(), c.Request())
		return nil
	})
}
