// Package parallel encodes long audio on several cores. LAME is
// single-threaded, so a long file is split into segments encoded at once
// ("lanes", on the cores Job.Cores lends), and joined so that nobody can
// hear or measure the joins. There are two ways to give the lanes their
// audio:
//
//   - FromSource (source.go): where the container times every sample
//     exactly, each lane is an ffmpeg of its own that seeks in the source,
//     decodes and encodes its segment, and writes an MP3 to a scratch
//     file. No PCM passes through this process.
//   - FromDecoder (decoder.go): one ffmpeg decodes the source as the single
//     pass would into 32-bit float PCM on a pipe; Go cuts it into segments
//     of whole frames and feeds each to a persistent LAME lane reading raw
//     PCM on its stdin (pcmlane.go), with a pre-roll of the audio before it
//     and postRoll frames after it.
//
// Either way, a lane's output frame k holds its input frame k, as in any
// LAME encode, so each frame's place in the file is known by counting.
// Around each join both encodes hold frames of the same audio, each encoded
// with real audio around it. The frames' data is taken out of LAME's bit
// reservoir and packed again (internal/mp3frame), unchanged: the join is
// put where the second encode's frames fit what the first leaves, best
// where both held the same (join.go, splice). Where none fits, one frame
// after the join gets a higher bitrate. The frames are written in order
// after ffmpeg's own ID3 tag and Xing frame, whose counts, TOC, delay and
// padding, and CRCs are then filled in for the whole file: a gapless
// decoder plays exactly the samples decoded.
//
// The package knows the plan, the pipes and the joins; the ffmpeg command
// lines it runs come from the adapter (FFmpeg), which knows the options.
package parallel

import (
	"context"
	"io"
	"os/exec"
	"runtime"
	"sync"
	"time"

	"github.com/mp3converter/mp3converter/internal/mp3frame"
)

// Lane 0 runs on the conversion's own core; each other lane borrows one
// for each segment and gives it back after it, so that work waiting for a
// core waits one segment at most. (FromSource gives its own core longer
// segments: see ownSegments.)
const (
	postRoll = 12 // frames encoded after a segment
	// warm is how many frames of a lane's pre-roll are never used, while
	// LAME's state (masking, block switching) settles; lead how many at
	// the end of its post-roll, which LAME has not written yet (it lags
	// two frames) or encoded without the audio after them. The join lies
	// between warm frames into a segment's pre-roll and postRoll-lead
	// frames after its start.
	warm     = 4
	lead     = 4
	maxLanes = 8
)

// Each segment but the first is encoded after settle frames of silence
// and a pre-roll of the audio before it. LAME adapts its hearing threshold
// to quiet passages slowly (the ATH adjustment, a state that a short
// silence leaves where it was): a long silence brings it to where a long
// encode has it, whatever the lane encoded before. Silence costs LAME half
// as much as audio. VBR quantises each frame as its masking asks, whatever
// its bit reservoir holds, so a short pre-roll does; CBR spends what its
// reservoir holds, and a longer pre-roll lets the two encodes' reservoirs
// meet, so that the join can be where both hold the same (see splice).
const (
	settle     = 64
	vbrPreRoll = 12
	cbrPreRoll = 32
)

// FFmpeg is what the lanes need of the ffmpeg adapter: the command lines
// of a job, and how to run them.
type FFmpeg interface {
	// Command returns ffmpeg with args, run in dir. Its Stderr keeps the
	// tail of what ffmpeg says, and is a fmt.Stringer.
	Command(ctx context.Context, dir string, args ...string) *exec.Cmd
	// ExitError classifies the error of running cmd (nil for none): a
	// Permanent error for a source ffmpeg could not decode.
	ExitError(cmd *exec.Cmd, err error) error
	// LocalFile returns path as an ffmpeg URL that can only mean a local file.
	LocalFile(path string) (string, error)
	// DecoderArgs: the source decoded as the single pass would, into WAV
	// of 32-bit float PCM on stdout.
	DecoderArgs() []string
	// PCMLaneArgs: LAME reading f's raw PCM on stdin, writing each frame
	// to stdout as soon as it is encoded, without tag or Xing frame.
	PCMLaneArgs(f PCMFormat) []string
	// HeaderArgs: LAME encoding f's PCM on stdin into the file url, whose
	// ID3 tag and Xing frame then head the output.
	HeaderArgs(f PCMFormat, url string) []string
	// SourceLaneArgs: the lane that encodes l from the source into url.
	SourceLaneArgs(l SourceLane, url string) []string
}

// Job is one parallel encode.
type Job struct {
	FFmpeg  FFmpeg
	Dir     string        // the directory ffmpeg runs in: the source's
	Segment time.Duration // audio per segment; the path's default if 0
	// OwnSegment is FromSource's most audio per segment on the
	// conversion's own core; ownSegments segments if 0.
	OwnSegment time.Duration
	CBR        bool    // a constant bitrate: a longer pre-roll (see cbrPreRoll)
	Duration   float64 // the output's length as probed, in seconds
	Length     float64 // the most seconds of output (a cut or a limit); 0 for no bound
	// Cores lends a core for a lane, or says false; release gives it back.
	Cores    func() (release func(), ok bool)
	Progress func(seconds float64) // told the seconds written; nil for none
	SizeCap  int64                 // the output must stay under it, in bytes; 0 for no cap
	TooBig   error                 // the error of an output that reaches SizeCap
	NoSound  error                 // the error of audio that decodes to nothing
	Observe  func(Stats)           // told each encode's figures, for tests; nil for none
	// Excerpt, if set, gives FromSource's lanes but the first their input,
	// where a seek in the source would not land on the sample asked: the
	// source's audio from before sample from of the output to past sample
	// to (-1 for the end), for ffmpeg to read on stdin, and how many
	// samples it decodes to before from; false if it cannot.
	Excerpt func(from, to int64) (r io.Reader, skip int64, ok bool)
}

// Result is what a parallel encode wrote.
type Result struct {
	Samples  int64 // decoded into the output; 0 for none
	Rate     int   // samples a second
	Segments int
}

// Seconds is the output's length.
func (r Result) Seconds() float64 { return float64(r.Samples) / float64(r.Rate) }

// Stats describe a parallel encode, for tests.
type Stats struct {
	Segments  int   // pieces encoded
	Lanes     int   // encoder processes started, or at once if each encodes one segment (FromSource)
	MaxBusy   int   // the most lanes encoding at once
	Joins     []int // the source frame of each join
	Same      int   // joins where both encodes' reservoirs held the same
	Unmatched int   // joins where no frame fits the reservoir the first encode leaves
	Bumped    int   // frames given a higher bitrate to hold their data
	// FromSource: the lanes read the source, not the decoder's PCM.
	FromSource bool
	// From holds, for FromSource, the source frame each lane decodes
	// from (its pre-roll's first), lane by lane.
	From []int
}

// piece is one segment as a lane encodes it, and the frames it gave. Its
// maker (the splitter, or FromSource's starter) creates done; the lane
// that encodes the piece, and only it, closes done once frames are set.
type piece struct {
	pcm     []byte // pre-roll frames, the segment, postRoll frames
	start   int    // the source frame its segment begins at
	pre     int    // frames of pre-roll before it
	keep    int    // frames of the segment, unless last
	post    int    // frames of post-roll after it
	last    bool   // the final segment: its frames run to the end
	release func() // gives back the core it borrowed
	first   int    // the source frame of frames[0]
	frames  []mp3frame.Frame
	reserve int // bytes the first frame packed must leave free: see splice
	// load, if set, gives frames their value: the joiner calls it once
	// done is closed, before it uses them.
	load func() error
	done chan struct{}
}

// encode is what both paths share: the job as planned, its stats, and the
// first error, which stops every stage.
type encode struct {
	Job
	ctx       context.Context
	fail      context.CancelCauseFunc // the first error stops every stage
	pcm       PCMFormat
	spf       int           // samples per frame: 1152, or 576 below 32 kHz
	segment   time.Duration // audio per segment: Job.Segment, or the path's default
	segFrames int           // frames per segment
	preRoll   int           // frames encoded before each segment but the first

	// tokens holds one token per piece in flight: the piece's maker puts
	// it in, the joiner takes it out once the piece is written. Never
	// closed.
	tokens chan struct{}

	mu      sync.Mutex // guards stats and told
	stats   Stats
	told    int   // the most frames of output Job.Progress was told of
	samples int64 // decoded, once the audio's end is known
}

// progress tells Job.Progress that frames of output are encoded, if that
// is more than it was told: the joiner tells what it has written, and
// FromSource's lanes, which end out of order, what they have encoded.
func (e *encode) progress(frames int) {
	if e.Progress == nil {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if frames > e.told {
		e.told = frames
		e.Progress(float64(frames*e.spf) / float64(e.pcm.Rate))
	}
}

// newEncode plans job for PCM of format f, in segments of the path's
// default length unless job asks for another.
func newEncode(ctx context.Context, fail context.CancelCauseFunc, job Job, f PCMFormat, segment time.Duration) *encode {
	spf := 1152
	if f.Rate < 32000 {
		spf = 576
	}
	if job.Segment > 0 {
		segment = job.Segment
	}
	pre := vbrPreRoll
	if job.CBR {
		pre = cbrPreRoll
	}
	return &encode{
		Job: job, ctx: ctx, fail: fail, pcm: f, spf: spf, segment: segment,
		preRoll: pre, segFrames: max(int(segment.Seconds()*float64(f.Rate))/spf, pre),
		tokens: make(chan struct{}, laneCount()+2), // the joiner holds two
	}
}

// finish joins the pieces in order into dst, then waits for every stage
// of the encode (wait) and returns the samples decoded, or the error that
// stopped it.
func (e *encode) finish(dst string, header <-chan *mp3frame.XingHeader, order <-chan *piece, wait func()) (int64, error) {
	if err := (&joiner{encode: e}).join(dst, header, order); err != nil {
		e.fail(err)
	}
	wait()
	if e.Observe != nil {
		e.Observe(e.stats)
	}
	if cause := context.Cause(e.ctx); e.ctx.Err() != nil {
		return 0, cause
	}
	return e.samples, nil
}

// send passes v on, unless the job has stopped.
func send[T any](ctx context.Context, ch chan<- T, v T) bool {
	select {
	case ch <- v:
		return true
	case <-ctx.Done():
		return false
	}
}

// errBlocked is a broken invariant: a send that cannot block did.
type errBlocked string

func (e errBlocked) Error() string { return "parallel encode: " + string(e) + " would block" }

// offer passes v on a channel whose capacity guarantees room, as its
// sender's invariant says; if there is none, the invariant is broken, and
// the job stops with an error rather than hanging.
func offer[T any](e *encode, ch chan<- T, v T, what string) bool {
	select {
	case ch <- v:
		return true
	default:
		e.fail(errBlocked(what))
		return false
	}
}

// laneCount is how many lanes a conversion may run: one per core.
func laneCount() int { return min(max(runtime.NumCPU(), 1), maxLanes) }

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
