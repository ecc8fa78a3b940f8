package localfs_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/mp3converter/mp3converter"
	"github.com/mp3converter/mp3converter/localfs"
)

// BenchmarkPutWriteback measures Put of a blob, written and made durable,
// with each chunk's writeback started as it is written (early) and with
// all of it left to the fsync (late), alternately in one run. It reports
// early/late, below 1 where starting early helps:
//   - memory: the body comes from memory, faster than any network, the
//     least it can help; the time is the whole Put;
//   - 100MBps: the body arrives at 100 MB/s (a 1 Gbit/s link); the time is
//     from its last byte to Put's return, what an upload's answer waits.
func BenchmarkPutWriteback(b *testing.B) {
	for _, tc := range []struct {
		mb   int
		rate int // bytes a second; 0: from memory
	}{{8, 0}, {64, 0}, {8, 100e6}, {64, 100e6}} {
		name := fmt.Sprintf("%dMB/memory", tc.mb)
		if tc.rate > 0 {
			name = fmt.Sprintf("%dMB/%dMBps", tc.mb, tc.rate/1e6)
		}
		b.Run(name, func(b *testing.B) {
			mb := tc.mb
			body := make([]byte, mb<<20)
			for i := range body {
				body[i] = byte(rand.Uint32()) // incompressible, like a video
			}
			early, err := localfs.Open(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			late, err := localfs.Open(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			localfs.LateWriteback(late)
			var times [2]time.Duration
			b.SetBytes(int64(len(body)))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				for k, s := range [2]*localfs.Store{early, late} {
					id := mp3converter.NewID()
					r := &paced{r: bytes.NewReader(body), rate: tc.rate, start: time.Now()}
					if _, err := s.Put(context.Background(), id, r); err != nil {
						b.Fatal(err)
					}
					times[k] += time.Since(r.start)
					if err := s.Delete(context.Background(), id); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(times[0].Microseconds())/1000/float64(b.N), "early-ms/op")
			b.ReportMetric(float64(times[1].Microseconds())/1000/float64(b.N), "late-ms/op")
			b.ReportMetric(times[0].Seconds()/times[1].Seconds(), "early/late")
		})
	}
}

// paced reads r at rate bytes a second (0: at once), from start on. Once
// r is read, start is when its last byte came.
type paced struct {
	r     *bytes.Reader
	rate  int
	start time.Time
	read  int64
}

func (p *paced) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if n == 0 || p.rate == 0 {
		return n, err
	}
	p.read += int64(n)
	time.Sleep(time.Until(p.start.Add(time.Duration(float64(p.read) / float64(p.rate) * float64(time.Second)))))
	if p.r.Len() == 0 {
		p.start = time.Now()
	}
	return n, err
}
