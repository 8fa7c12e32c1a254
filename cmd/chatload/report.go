package main

import (
	"fmt"
	"io"
	"strings"
)

// verdict lists what makes the run a failure. Timing never does: a slow
// figure is a measurement, an error is not.
func verdict(o *options, rep *report) []string {
	var p []string
	overPct := func(what string, n, of int64, limit float64) {
		if n > 0 && percentOf(float64(n), float64(of)) > limit {
			p = append(p, fmt.Sprintf("%s: %d of %d (%.2f%%, limit %.2f%%)", what, n, of, percentOf(float64(n), float64(of)), limit))
		}
	}
	if h := rep.Hold; h != nil {
		overPct("failed handshakes", int64(h.Dial.Failed+h.DialToMark.Failed), int64(h.Sockets), o.maxFailedPct)
		overPct("sockets dropped by the server", int64(h.Drops.Dropped), int64(h.Dial.Opened+h.DialToMark.Opened), o.maxFailedPct)
	}
	if f := rep.Fanout; f != nil {
		sockets := int64(o.socketCount())
		overPct("failed handshakes", int64(f.Dial.Failed), sockets, o.maxFailedPct)
		overPct("sockets not in their room in time", int64(f.NotReady), sockets, o.maxFailedPct)
		overPct("sockets dropped by the server", int64(f.Drops.Dropped), int64(f.Dial.Opened), o.maxFailedPct)
		overPct("lost deliveries", f.Missing, f.Expected, o.maxLossPct)
		overPct("messages sent but never acknowledged", f.Sent-f.Acked, f.Sent, o.maxLossPct)
		if f.Duplicates > 0 || f.DuplicateAcks > 0 {
			p = append(p, fmt.Sprintf("duplicates: %d deliveries, %d acknowledgements", f.Duplicates, f.DuplicateAcks))
		}
		if f.ErrorFrames > 0 {
			msg := fmt.Sprintf("the server refused %d frames", f.ErrorFrames)
			if strings.Contains(strings.Join(f.ErrorFrameTexts, " "), "rate_limited") {
				msg += " (rate_limited: it limits messages per user; use more -senders, so each sends less, or start it with a higher --message-rate)"
			}
			p = append(p, msg)
		}
		if len(f.SendErrors) > 0 {
			p = append(p, "send errors: "+strings.Join(f.SendErrors, "; "))
		}
		if f.Sent == 0 {
			p = append(p, "nothing was sent")
		}
		if f.Storm != nil {
			p = append(p, stormVerdict(o, f.Storm)...)
		}
	}
	if s := rep.Storm; s != nil {
		p = append(p, stormVerdict(o, s)...)
	}
	if rep.Hoard != nil {
		p = append(p, hoardVerdict(o, rep.Hoard)...)
	}
	if rep.Slowbody != nil {
		p = append(p, slowbodyVerdict(rep.Slowbody)...)
	}
	if rep.Office != nil {
		p = append(p, officeVerdict(rep.Office)...)
	}
	if rep.Signups != nil {
		p = append(p, signupsVerdict(rep.Signups)...)
	}
	if r := rep.Reconnect; r != nil {
		p = append(p, reconnectVerdict(r)...)
	}
	return p
}

func reconnectVerdict(r *reconnectResult) []string {
	var p []string
	if r.NotResumed > 0 {
		p = append(p, fmt.Sprintf("%d of %d sockets did not resume", r.NotResumed, r.Sockets+r.Rooms))
	}
	if r.Gaps > 0 || r.Duplicates > 0 || r.Missing > 0 {
		p = append(p, fmt.Sprintf("%d gaps, %d duplicates, %d acknowledged messages missing", r.Gaps, r.Duplicates, r.Missing))
	}
	if r.ErrorFrames > 0 {
		p = append(p, fmt.Sprintf("%d error frames or stray messages: %s", r.ErrorFrames, strings.Join(r.ErrorTexts, "; ")))
	}
	if r.Acked <= r.AckedBefore {
		p = append(p, "nothing was acknowledged after the restart")
	}
	return p
}

func stormVerdict(o *options, s *stormResult) []string {
	var p []string
	if s.Failed > 0 && percentOf(float64(s.Failed), float64(s.Attempted)) > o.maxFailedPct {
		p = append(p, fmt.Sprintf("failed logins: %d of %d", s.Failed, s.Attempted))
	}
	if s.Succeeded == 0 {
		p = append(p, "no login succeeded")
	}
	return p
}

// printSummary writes the human-readable result.
func printSummary(w io.Writer, o *options, rep *report) {
	fmt.Fprintf(w, "\n== chatload %s against %s (%s)\n", rep.Mode, rep.URL, rep.Target)
	if h := rep.Hold; h != nil {
		fmt.Fprintf(w, "sockets        %d opened, %d failed, over %d users\n", h.Dial.Opened, h.Dial.Failed, h.Users)
		printDial(w, h.Dial)
		printCPU(w, "dialing cpu", h.DialCPU)
		if h.RSSAfterKiB > 0 {
			fmt.Fprintf(w, "server RSS     %.1f MiB before, %.1f MiB after: %.1f KiB per socket\n",
				float64(h.RSSBeforeKiB)/1024, float64(h.RSSAfterKiB)/1024, h.RSSPerSocketKiB)
		}
		if h.RSSAtKiB > 0 {
			fmt.Fprintf(w, "marginal RSS   %.1f MiB at %d sockets, %.1f MiB at %d: %.2f KiB per socket between them\n",
				float64(h.RSSAtKiB)/1024, h.RSSAtSockets, float64(h.RSSAfterKiB)/1024, h.RSSAtSockets+h.Dial.Opened, h.MarginalPerSocketKiB)
		}
		fmt.Fprintf(w, "held           %.1fs, %d frames received\n", h.HeldSeconds, h.FramesReceived)
		printDrops(w, h.Drops)
	}
	if f := rep.Fanout; f != nil {
		fmt.Fprintf(w, "layout         %d room(s) × (%d receivers + %d senders), %d users, %d-byte texts\n",
			f.Rooms, f.ReceiversPerRoom, f.SendersPerRoom, f.Users, f.SizeBytes)
		printDial(w, f.Dial)
		if f.NotReady > 0 {
			fmt.Fprintf(w, "not ready      %d sockets were not in their room within %v\n", f.NotReady, readyTimeout)
		}
		fmt.Fprintf(w, "sent           %d in %.1fs = %.1f/s (asked %.1f/s); acked %d, refused %d\n",
			f.Sent, f.SendSeconds, f.SentPerSecond, f.RatePerRoom*float64(f.Rooms), f.Acked, f.Refused)
		printLatency(w, "ack latency", f.AckLatency)
		fmt.Fprintf(w, "deliveries     %d of %d expected = %.1f/s; missing %d (%.2f%% loss: not delivered by the end of the drain), duplicates %d, unacked %d, foreign %d\n",
			f.Delivered, f.Expected, f.DeliveriesPerSecond, f.Missing, f.LossPct, f.Duplicates, f.UnackedDeliveries, f.Foreign)
		printLatency(w, "latency", f.Latency)
		fmt.Fprintf(w, "drain          %.2fs\n", f.DrainSeconds)
		printCPU(w, "sending cpu", f.CPU)
		if f.RSSAfterKiB > 0 {
			fmt.Fprintf(w, "server RSS     %.1f MiB before, %.1f MiB after\n", float64(f.RSSBeforeKiB)/1024, float64(f.RSSAfterKiB)/1024)
		}
		for _, e := range f.ErrorFrameTexts {
			fmt.Fprintf(w, "error frames   %s\n", e)
		}
		printDrops(w, f.Drops)
		if f.Storm != nil {
			printStorm(w, f.Storm, o.concurrency)
		}
	}
	if s := rep.Storm; s != nil {
		printStorm(w, s, o.concurrency)
	}
	if rep.Created != nil {
		fmt.Fprintf(w, "users          %d created (%d asked; the rest existed)\n", *rep.Created, o.users)
	}
	if rep.Hoard != nil {
		printHoard(w, rep.Hoard)
	}
	if rep.Slowbody != nil {
		printSlowbody(w, rep.Slowbody)
	}
	if rep.Office != nil {
		printOffice(w, rep.Office)
	}
	if rep.Signups != nil {
		printSignups(w, rep.Signups)
	}
	if r := rep.Reconnect; r != nil {
		printReconnect(w, r)
	}
	if rep.OK {
		fmt.Fprintln(w, "result         OK")
		return
	}
	for _, p := range rep.Problems {
		fmt.Fprintf(w, "PROBLEM        %s\n", p)
	}
}

func printDial(w io.Writer, d dialStats) {
	fmt.Fprintf(w, "handshakes     %d in %.2fs = %.1f/s\n", d.Opened, d.Seconds, d.PerSecond)
	printLatency(w, "handshake", d.Handshake)
	for _, e := range d.FailureErrors {
		fmt.Fprintf(w, "  failure      %s\n", e)
	}
}

func printLatency(w io.Writer, name string, l latencySummary) {
	fmt.Fprintf(w, "%-14s p50 %.2f ms  p95 %.2f ms  p99 %.2f ms  max %.2f ms  (mean %.2f, n=%d)\n",
		name, l.P50Ms, l.P95Ms, l.P99Ms, l.MaxMs, l.MeanMs, l.Count)
}

func printDrops(w io.Writer, d dropStats) {
	if d.Dropped == 0 {
		return
	}
	fmt.Fprintf(w, "dropped        %d sockets closed by the server or the network, by close code: %v\n", d.Dropped, d.ByCode)
	for _, e := range d.Errors {
		fmt.Fprintf(w, "  drop         %s\n", e)
	}
}

func printStorm(w io.Writer, s *stormResult, slots int) {
	fmt.Fprintf(w, "logins         %d ok, %d failed, %d skipped (no free slot of %d) in %.1fs at %.1f/s asked = %.1f ok/s\n",
		s.Succeeded, s.Failed, s.Skipped, slots, s.Seconds, s.Rate, s.PerSecond)
	printLatency(w, "login", s.Latency)
	for _, e := range s.FailureErrors {
		fmt.Fprintf(w, "  failure      %s\n", e)
	}
}

func printCPU(w io.Writer, name string, u cpuUse) {
	server := "unknown (no -pid)"
	if u.ServerPct > 0 {
		server = fmt.Sprintf("%.0f%%", u.ServerPct)
	}
	fmt.Fprintf(w, "%-14s tool %.0f%%, server %s of one core\n", name, u.ToolPct, server)
}

func printReconnect(w io.Writer, r *reconnectResult) {
	fmt.Fprintf(w, "layout         %d sockets in %d rooms (and a sender in each), %d users, %.1f msgs/s a room\n", r.Sockets, r.Rooms, r.Users, r.RatePerRoom)
	fmt.Fprintf(w, "opened         in %.1fs\n", r.OpenSeconds)
	fmt.Fprintf(w, "restart        %d of %d (the figures are the last one's): SIGTERM to exit %.1fs; start to listening %.1fs\n", r.Restarts, r.Restarts, r.StopSeconds, r.StartSeconds)
	if r.NotResumed == 0 {
		fmt.Fprintf(w, "resumed        every socket within %.2fs of the new process listening\n", r.ResumeSeconds)
	} else {
		fmt.Fprintf(w, "resumed        %d sockets never did\n", r.NotResumed)
	}
	printLatency(w, "resume", r.Resume)
	fmt.Fprintf(w, "refused        %d handshakes answered 503 (%d during the storm); %d reconnects\n", r.Refused, r.RefusedStorm, r.Reconnects)
	for _, e := range r.DialErrors {
		fmt.Fprintf(w, "  dial error   %s\n", e)
	}
	fmt.Fprintf(w, "messages       %d acknowledged before the restart, %d in all; gaps %d, duplicates %d, missing %d; %d sends refused as unavailable and sent again\n",
		r.AckedBefore, r.Acked, r.Gaps, r.Duplicates, r.Missing, r.Unavailable)
	fmt.Fprintf(w, "server RSS     %.1f MiB before, %.1f MiB after (%+.1f%%)\n", float64(r.RSSBeforeKiB)/1024, float64(r.RSSAfterKiB)/1024, r.RSSChangePct)
	fmt.Fprintf(w, "server log     %s\n", r.ServerLog)
}
