package httpapi

import "sync"

// inUse counts what each user has in progress (uploads, event streams) and
// the sum, against caps. Counts live in memory, per process.
type inUse struct {
	mu     sync.Mutex
	total  int
	byUser map[string]int
}

// take counts one more for user unless that would pass perUser or total
// (0: no cap). It returns the func that uncounts it, which does so once
// however often it is called, or else which cap refused it: "per_user" or
// "total".
func (n *inUse) take(user string, perUser, total int) (release func(), refusedBy string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	switch {
	case perUser > 0 && n.byUser[user] >= perUser:
		return nil, "per_user"
	case total > 0 && n.total >= total:
		return nil, "total"
	}
	if n.byUser == nil {
		n.byUser = map[string]int{}
	}
	n.byUser[user]++
	n.total++
	var once sync.Once
	return func() { once.Do(func() { n.give(user) }) }, ""
}

func (n *inUse) give(user string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.total--
	if n.byUser[user]--; n.byUser[user] <= 0 {
		delete(n.byUser, user)
	}
}
