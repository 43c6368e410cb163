// watchfanout measures watch event delivery latency and throughput with many watchers, against
// any etcd-compatible server: W watchers spread over S streams (gRPC connections), watching
// either one key or K distinct keys; a writer puts values carrying their send time at a fixed
// rate; every watcher records, per event, now - send time. Prints p50/p90/p99/max delivery
// latency and events/s. Built in GOPATH mode against etcd 3.4's clientv3 from the reference
// setup (see run.sh beside this file).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/clientv3"
)

func main() {
	endpoint := flag.String("endpoint", "127.0.0.1:2379", "server")
	streams := flag.Int("streams", 100, "gRPC connections (one watch stream each)")
	watchers := flag.Int("watchers", 10000, "watchers in all")
	keys := flag.Int("keys", 1, "distinct watched keys (watcher i watches key i % keys)")
	puts := flag.Int("puts", 200, "puts to make")
	rate := flag.Int("rate", 100, "puts per second")
	flag.Parse()

	clients := make([]*clientv3.Client, *streams)
	for i := range clients {
		c, err := clientv3.New(clientv3.Config{Endpoints: []string{*endpoint}, DialTimeout: 10 * time.Second})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		clients[i] = c
	}
	key := func(i int) string { return fmt.Sprintf("fanout/%08d", i%*keys) }
	watchersPerKey := make([]int, *keys)
	for i := 0; i < *watchers; i++ {
		watchersPerKey[i%*keys]++
	}
	expected := 0
	for p := 0; p < *puts; p++ {
		expected += watchersPerKey[p%*keys]
	}

	ctx, cancel := context.WithCancel(context.Background())
	var mu sync.Mutex
	latencies := make([]time.Duration, 0, expected)
	var received int64
	done := make(chan struct{})
	var ready sync.WaitGroup
	created := time.Now()
	for i := 0; i < *watchers; i++ {
		ready.Add(1)
		c := clients[i%*streams]
		k := key(i)
		go func() {
			wch := c.Watch(clientv3.WithRequireLeader(ctx), k, clientv3.WithCreatedNotify())
			first := true
			for resp := range wch {
				if first {
					first = false
					ready.Done()
					continue
				}
				now := time.Now()
				local := make([]time.Duration, 0, len(resp.Events))
				for _, ev := range resp.Events {
					sent, err := strconv.ParseInt(string(ev.Kv.Value), 10, 64)
					if err == nil {
						local = append(local, now.Sub(time.Unix(0, sent)))
					}
				}
				mu.Lock()
				latencies = append(latencies, local...)
				mu.Unlock()
				if atomic.AddInt64(&received, int64(len(resp.Events))) >= int64(expected) {
					select {
					case <-done:
					default:
						close(done)
					}
				}
			}
		}()
	}
	ready.Wait()
	fmt.Printf("created %d watchers on %d streams over %d keys in %v\n", *watchers, *streams, *keys, time.Since(created).Round(time.Millisecond))

	start := time.Now()
	interval := time.Second / time.Duration(*rate)
	writer := clients[0]
	for p := 0; p < *puts; p++ {
		next := start.Add(time.Duration(p) * interval)
		if d := time.Until(next); d > 0 {
			time.Sleep(d)
		}
		if _, err := writer.Put(ctx, key(p), strconv.FormatInt(time.Now().UnixNano(), 10)); err != nil {
			fmt.Fprintln(os.Stderr, "put:", err)
			os.Exit(1)
		}
	}
	select {
	case <-done:
	case <-time.After(120 * time.Second):
		fmt.Fprintf(os.Stderr, "timeout: %d of %d events\n", atomic.LoadInt64(&received), expected)
	}
	elapsed := time.Since(start)
	cancel()
	mu.Lock()
	sort.Slice(latencies, func(a, b int) bool { return latencies[a] < latencies[b] })
	q := func(f float64) time.Duration {
		if len(latencies) == 0 {
			return 0
		}
		return latencies[int(f*float64(len(latencies)-1))]
	}
	fmt.Printf("events %d/%d in %v (%.0f events/s); delivery latency p50 %v p90 %v p99 %v max %v\n",
		len(latencies), expected, elapsed.Round(time.Millisecond), float64(len(latencies))/elapsed.Seconds(),
		q(0.5).Round(time.Microsecond), q(0.9).Round(time.Microsecond), q(0.99).Round(time.Microsecond), q(1).Round(time.Microsecond))
	mu.Unlock()
}
