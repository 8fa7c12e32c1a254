// Package chat is the real-time core: a hub that owns the connected clients and
// the rooms, persists each message before it fans it out, and closes sockets
// whose right to exist has ended.
//
// # Files
//
// hub.go holds the Hub (the registry of sockets and rooms, the persist loop,
// the tickers) and its entry points; room.go a room's members, delivery in
// order and presence; conn.go a socket's queue, write pump, close and
// expiry; read.go its read loop and rate limits; commands.go the dispatch
// table of client frames and what each does; unread.go the user's rooms
// and read positions (kept by the store, so every device sees the same);
// access.go who may read a room (private rooms, dms), invitations,
// removals and the user events that carry them to every node; notify.go
// mentions (user events after a message is stored) and typing; changes.go
// edits, deletes and the scrub that follows a delete; frames.go decoding
// and encoding; close.go the close codes.
//
// # Goroutines of a socket
//
//   - Setup runs on the HTTP handler's goroutine: app/web calls Hub.Serve (or
//     ServeEcho) after the upgrade; it registers the socket, queues the
//     welcome and the unread frame, joins the default room, starts the read
//     loop and returns.
//   - The read loop (Hub.read, Client.readLoop) is the only reader. With a
//     Poller (Deps.Poller, app/readiness) it has no goroutine while the
//     socket is idle: when nothing is buffered it parks the socket (hands
//     the wait for its next bytes to the Poller) and its goroutine returns;
//     the Poller calls Client.wake when bytes arrive, which starts it again
//     on a new goroutine (Hub.readOn). Without a Poller, or for a connection
//     the Poller cannot watch, it runs on one goroutine, blocked in reads.
//     It ends when a read fails: the peer closed, nothing arrived for
//     pongWait, a frame passed the read limit, or someone closed the
//     connection (closeConn, which takes a parked socket back from the
//     Poller first and starts its read loop, to fail). On its way out it
//     closes the connection, takes the socket out of its rooms and the hub
//     (unregister, which stops the expiry timer) and calls Serve's done,
//     which releases the user's socket slot (Hub.Admit). Shutdown waits for
//     every read loop, parked or not.
//   - The write pump (Client.pump) is the only writer. It runs only while
//     something is queued: whoever queues the first frame starts it
//     (startPumpLocked) and it returns when the queue is empty, so an idle
//     socket has no writer goroutine. A write error ends it and closes the
//     connection.
//   - Offload goroutines run one store call each for the read loop (join,
//     history, rooms, refresh, opening a room, memberships and reads) so the store's deep stacks do
//     not stay on the long-lived reader; the read loop waits for each, and
//     storeTimeout bounds it. A goroutine that ends soon makes the call
//     itself (shortLived): Serve's setup, on the request's goroutine, and
//     the read loop of a socket that parks, whose goroutine ends at the park.
//   - The session recheck (Client.recheckSession), started by Serve once the
//     socket is registered if a session was kicked since the gate read
//     Hub.Kicks (Peer.Kicks), asks the store once whether the session still
//     exists and ends: it closes a socket revoked between the gate and the
//     registration, which KickSession could not see.
//
// The hub's own goroutines, started by NewHub and stopped by Shutdown
// (closing stop): the persist loop (the only writer of messages and
// changes; it drains what was submitted before it returns), the announce
// loop (a public room's first message, to every socket: off the persist
// loop, which it held for seconds when many rooms started at once), the scrub loop
// (store.Scrub after deletes, coalesced, retried), and the tickers through Hub.every:
// pings every pingPeriod (closing first the sockets silent past pongWait:
// a parked socket has no read deadline to end it), the empty-room pruner (with an EmptyRoomTTL), and
// with a broker the presence heartbeat and catch-up every presenceHeartbeat.
// The broker calls a room's deliver and remotePresence, and the hub's
// onUserEvent (subscribed once by NewHub, unsubscribed by Shutdown), on its
// own goroutines.
//
// # Timers
//
//   - expiry: one per socket, set by newClient to the token's expiry, moved
//     by extend and refresh, stopped by unregister; at expiry it asks the
//     store whether the session was renewed (on any node) and then extends
//     the socket or closes it with 4401.
//   - close grace: once the close frame is written, the connection is closed
//     closeGrace later if the peer has not closed it first.
//   - abortIfStuck: set when a close is queued (closeGrace, plus writeWait if
//     the queue is written first); if the close frame has not been written
//     by then, the peer is not reading, and the connection is reset.
//   - presence timer: one per room at most (schedulePresence), coalescing a
//     room's presence changes into one frame; stopped when the room retires.
//     Only a change of the set of users arms it: another socket of a user
//     already present sends the room nothing.
//   - the hub's tickers above.
//
// # Locks
//
// The order is hub → room → client: the hub's lock may be held while taking
// a room's (retiring an empty room), a room's while taking a client's
// (queueing to a member; a joining socket's entry, Client.enter, so that a
// removal either keeps it out or finds it in), never the other way. A client's lock is never held
// while taking a room's or the hub's: a client copies what it needs (its
// rooms) and releases its lock first. No store call is made under the hub's
// or a room's lock (a gap in a room is read unlocked, then delivered under
// the lock); the one bus call under a room's lock is the presence publish,
// which must keep the order of the lists (see publishPresenceLocked).
//
// # How a socket closes
//
// Every close the server starts goes through Client.closeWith(code): the
// close frame is queued, after what is queued if the code keeps the queue,
// alone if CloseCode.DropsQueue; nothing is queued after it.
//
//   - 1000: the peer closed (gorilla answers its close frame); also what a
//     socket that went silent past pongWait, or whose write failed, is
//     logged with.
//   - 1001 CloseGoingAway: Shutdown, after the persist loop has delivered
//     everything it took, and a socket that arrives after Shutdown began.
//     Queue written first.
//   - 1007 CloseInvalidData: /secured-ws, a text frame that is not UTF-8.
//     Queue written first.
//   - 1008 ClosePolicy: more than maxStrikes rate-limited frames within
//     strikeWindow (read loop, echoFrame). Queue written first, so the
//     warnings arrive.
//   - 1009 CloseTooBig: a frame over Limits.ReadLimit; gorilla sends the
//     close itself and the read loop ends.
//   - 1013 CloseTryLater: the socket fell behind: its queue passed
//     Limits.SendQueue frames or Limits.SendQueueBytes bytes (send), or so
//     did what waits for it during a replay (room.fanOutLocked). Queue dropped.
//   - 4401 CloseAuthEnded: expiry without renewal (expire), logout,
//     password change or deletion (KickSession, from the revocation watcher),
//     or a session that ended before registration (recheckSession). Queue
//     dropped.
//   - write error or timeout (writeWait): the pump closes the connection,
//     with no close frame; the read loop then ends.
//   - read error or timeout (pongWait): the read loop ends and closes the
//     connection, with no close frame. A parked socket silent past pongWait
//     is closed by the ping loop (Hub.pingAll), within a ping period after.
package chat
