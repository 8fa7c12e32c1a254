package chat

import (
	"context"
	"runtime"
	"strings"
	"testing"
)

// A store call runs on a goroutine of its own, so that a long-lived reader's
// stack is not grown by it; on a goroutine that ends soon (shortLived) it
// runs directly, on the caller's.
func TestOffload(t *testing.T) {
	cases := []struct {
		name       string
		ctx        context.Context
		wantCaller bool // fn ran on the caller's goroutine: the caller is on its stack
	}{
		{"a long-lived goroutine's call runs on its own", context.Background(), false},
		{"a short-lived goroutine's call runs on the caller's", shortLived(context.Background()), true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var stack string
			err := offload(tc.ctx, func(ctx context.Context) error {
				if _, ok := ctx.Deadline(); !ok {
					t.Error("the store call has no deadline")
				}
				pcs := make([]uintptr, 64)
				frames := runtime.CallersFrames(pcs[:runtime.Callers(1, pcs)])
				for f, more := frames.Next(); more; f, more = frames.Next() {
					stack += f.Function + "\n"
				}
				return nil
			})
			if err != nil {
				t.Fatalf("offload: %v", err)
			}
			// The subtest's function, which called offload (fn itself is TestOffload.func1.1).
			if got := strings.Contains(stack, ".TestOffload.func1\n"); got != tc.wantCaller {
				t.Errorf("the caller on the store call's stack: %v, want %v\n%s", got, tc.wantCaller, stack)
			}
		})
	}
}
