package gridfs

import "context"

// Wrap is the error a Store's operation op on id returns for err.
func (s *Store) Wrap(ctx context.Context, op, id string, err error) error {
	return s.wrap(ctx, op, id, err)
}
