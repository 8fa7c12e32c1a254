package web

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"securechat/views"
)

func (s *Server) registerPages(e *echo.Echo) {
	e.GET("/", s.chatPage, s.requireLogin)
	// Every other page: a visitor without a session logs in first; a logged-in
	// user gets a 404 page.
	e.RouteNotFound("/*", s.notFound, s.requireLogin)
}

func (s *Server) chatPage(c echo.Context) error {
	return render(c, http.StatusOK, views.Chat(views.ChatPage{User: identity(c).User, CSRF: csrfToken(c)}))
}

func (s *Server) notFound(c echo.Context) error {
	return render(c, http.StatusNotFound, views.NotFound())
}
