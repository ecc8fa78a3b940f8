package localfs

// LateWriteback makes s leave all the writing of a blob to its fsync, as
// before early writeback: the benchmark's baseline.
func LateWriteback(s *Store) { s.lateWriteback = true }
