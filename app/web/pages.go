package web

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"securechat/app/chat"
	"securechat/app/store"
	"securechat/views"
)

func (s *Server) registerPages(e *echo.Echo) {
	e.GET("/", s.chatPage, s.requireLogin)
	// Every other page: a visitor without a session logs in first; a logged-in
	// user gets a 404 page.
	e.RouteNotFound("/*", s.notFound, s.requireLogin)
}

func (s *Server) chatPage(c echo.Context) error {
	// The role only decides which buttons the page offers; the hub reads it
	// again for every action. A store that cannot say shows a member's page
	// rather than no page.
	admin, err := s.isAdmin(c)
	if err != nil {
		s.log.Warn("chat page: role unknown, shown as a member's", "err", err)
		admin = false
	}
	return render(c, http.StatusOK, views.Chat(views.ChatPage{
		User: identity(c).User,
		CSRF: csrfToken(c),
		// The page's limits come from the chat package and the hub's
		// configuration, never from a copy in the page.
		PageSize:    chat.HistoryPage,
		RoomPattern: chat.RoomPattern,
		// The room box also takes capitals: the page lowercases a name before it checks it.
		RoomInputPattern: strings.Replace(chat.RoomPattern, "a-z", "A-Za-z", 1),
		MaxRoomName:      chat.MaxRoomName,
		MaxText:          s.deps.Hub.Limits().MaxText,
		MaxSearchQuery:   s.deps.Hub.SearchQueryLimit(),
		Admin:            admin,
		DMPrefix:         store.DMPrefix,
	}))
}

func (s *Server) notFound(c echo.Context) error {
	return render(c, http.StatusNotFound, views.NotFound())
}
