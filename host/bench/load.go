package bench

import (
	"context"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// op is one request of a client: seq is the client's own count. It returns
// the latency to record.
type op func(ctx context.Context, client, seq int) (time.Duration, error)

// result is a load phase's outcome.
type result struct {
	n, errs  int
	firstErr error
	// missed is how many paced requests were never sent: their time came
	// after the phase had ended, the server being too far behind.
	missed int
	took   time.Duration
	lat    []time.Duration // sorted
}

func (r result) rate() float64 {
	if r.took <= 0 {
		return 0
	}
	return float64(r.n) / r.took.Seconds()
}

func (r result) pct(p int) float64 {
	if len(r.lat) == 0 {
		return 0
	}
	i := min(len(r.lat)*p/100, len(r.lat)-1)
	return float64(r.lat[i].Microseconds()) / 1000
}

// closedLoop runs clients that each send their next request when the last
// is answered, for d.
func closedLoop(ctx context.Context, clients int, d time.Duration, do op) result {
	deadline := time.Now().Add(d)
	return run(ctx, clients, func(ctx context.Context, client int, rec func(time.Duration, error)) {
		for seq := 0; time.Now().Before(deadline) && ctx.Err() == nil; seq++ {
			rec(do(ctx, client, seq))
		}
	})
}

// paced sends rate requests a second for d, spread over clients; a
// request's latency counts from when it was due, so a server that falls
// behind is charged for the wait (no coordinated omission).
func paced(ctx context.Context, clients, rate int, d time.Duration, do op) result {
	start := time.Now()
	interval := time.Second / time.Duration(rate)
	total := int64(d / interval)
	end := start.Add(d)
	var next, missed atomic.Int64
	r := run(ctx, clients, func(ctx context.Context, client int, rec func(time.Duration, error)) {
		timer := time.NewTimer(0)
		defer timer.Stop()
		<-timer.C
		for ctx.Err() == nil {
			i := next.Add(1) - 1
			if i >= total {
				return
			}
			due := start.Add(time.Duration(i) * interval)
			if time.Now().After(end) {
				// Bounded in time: what is this late is not sent.
				missed.Add(total - i)
				next.Store(total)
				return
			}
			if wait := time.Until(due); wait > 0 {
				timer.Reset(wait)
				select {
				case <-timer.C:
				case <-ctx.Done():
					return
				}
			}
			late := time.Since(due)
			lat, err := do(ctx, client, int(i))
			rec(late+lat, err)
		}
	})
	r.missed = int(missed.Load())
	return r
}

func run(ctx context.Context, clients int, loop func(ctx context.Context, client int, rec func(time.Duration, error))) result {
	var (
		mu  sync.Mutex
		out result
		wg  sync.WaitGroup
	)
	began := time.Now()
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var lat []time.Duration
			n, errs := 0, 0
			var first error
			loop(ctx, c, func(d time.Duration, err error) {
				if err != nil {
					errs++
					if first == nil {
						first = err
					}
					return
				}
				n++
				lat = append(lat, d)
			})
			mu.Lock()
			defer mu.Unlock()
			out.n += n
			out.errs += errs
			if out.firstErr == nil {
				out.firstErr = first
			}
			out.lat = append(out.lat, lat...)
		}()
	}
	wg.Wait()
	out.took = time.Since(began)
	sort.Slice(out.lat, func(i, j int) bool { return out.lat[i] < out.lat[j] })
	return out
}
