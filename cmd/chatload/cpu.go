package main

import (
	"fmt"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"
)

// clockTicks is the unit of utime and stime in /proc/PID/stat (USER_HZ),
// 100 on every Linux architecture Go supports.
const clockTicks = 100

// The tool and the server share the machine's cores, so a saturation figure
// means little without knowing who used the CPU: both are reported.

// cpuSample is the CPU time used so far by the tool and, if known, the server.
type cpuSample struct {
	at     time.Time
	self   time.Duration
	server time.Duration // 0 when there is no -pid or it could not be read
}

func sampleCPU(pid int) cpuSample {
	s := cpuSample{at: time.Now(), self: selfCPU()}
	if pid != 0 {
		s.server, _ = processCPU(pid) // a missing figure is shown as 0, not a failed run
	}
	return s
}

// cpuUse is CPU use over an interval as percent of one core (200% = both cores).
type cpuUse struct {
	ToolPct   float64 `json:"tool_cpu_pct"`
	ServerPct float64 `json:"server_cpu_pct,omitempty"`
}

func cpuBetween(a, b cpuSample) cpuUse {
	wall := b.at.Sub(a.at)
	if wall <= 0 {
		return cpuUse{}
	}
	u := cpuUse{ToolPct: round1(percentOf(float64(b.self-a.self), float64(wall)))}
	if a.server > 0 && b.server > 0 {
		u.ServerPct = round1(percentOf(float64(b.server-a.server), float64(wall)))
	}
	return u
}

// processCPU is a process's user plus system time from /proc/PID/stat.
func processCPU(pid int) (time.Duration, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("read server CPU time: %w", err)
	}
	return parseProcStatCPU(string(data))
}

// parseProcStatCPU reads utime and stime (fields 14 and 15) from a
// /proc/PID/stat line. The command name (field 2) is in parentheses and may
// hold spaces, so fields are counted after its closing parenthesis.
func parseProcStatCPU(stat string) (time.Duration, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("read server CPU time: no command name in %.60q", stat)
	}
	f := strings.Fields(stat[i+1:]) // f[0] is field 3 (state)
	if len(f) < 13 {
		return 0, fmt.Errorf("read server CPU time: short stat line")
	}
	var ticks int64
	for _, s := range f[11:13] { // fields 14 and 15
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("read server CPU time: %w", err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
}

// startCPUProfile profiles the tool itself into path until the returned stop runs.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("create the CPU profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("start the CPU profile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}
