package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// readRSS returns a process's resident set size in KiB, from the VmRSS line
// of /proc/PID/status.
func readRSS(pid int) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("read server RSS: %w", err)
	}
	return parseVmRSS(data)
}

// parseVmRSS finds "VmRSS:   12345 kB" in a /proc status file.
func parseVmRSS(status []byte) (int64, error) {
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("read server RSS: unexpected VmRSS line %q", sc.Text())
		}
		kib, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("read server RSS: %w", err)
		}
		return kib, nil
	}
	return 0, fmt.Errorf("read server RSS: no VmRSS line (a kernel thread, or not Linux?)")
}
