package main

import (
	"context"
	"log/slog"

	"securechat/app/auth"
	"securechat/app/chat"
	"securechat/app/web"
)

// The two ways an open socket loses its right to exist, wired here and only
// here:
//
//   - its session expires or is renewed: the hub asks socketSessions at the
//     socket's expiry (and for a refresh frame) and extends the socket or
//     closes it with 4401;
//   - its session is revoked (logout, password change, user deleted, on any
//     node): watchSockets polls the store's revocations and has the hub close
//     the session's sockets with 4401 (Hub.KickSession).

// socketSessions is what the hub asks about an open socket's session: the
// same rules as the gate's.
func socketSessions(a *auth.Service) chat.Sessions {
	return web.TokenPeers{Auth: a}
}

// watchSockets closes the sockets of every session revoked from now on,
// until ctx ends.
func watchSockets(ctx context.Context, revocations auth.RevocationStore, hub *chat.Hub, log *slog.Logger) {
	kick := func(sessionID string) { hub.KickSession(sessionID) }
	if err := auth.WatchRevocations(ctx, revocations, auth.RevocationInterval, log, kick); err != nil && ctx.Err() == nil {
		log.Error("watch revocations", "err", err)
	}
}
