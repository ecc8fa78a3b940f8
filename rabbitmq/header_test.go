package rabbitmq

import (
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"
)

func TestHeader(t *testing.T) {
	for _, tc := range []struct {
		v    any
		want int
	}{
		{nil, 1}, {"3", 1}, {int32(0), 1}, {int64(-2), 1},
		{int8(2), 2}, {int16(3), 3}, {int32(4), 4}, {int64(5), 5}, {6, 6},
		{uint8(7), 7}, {uint16(8), 8}, {uint32(9), 9}, {uint64(10), 10},
	} {
		if got := header(amqp.Delivery{Headers: amqp.Table{"x-attempt": tc.v}}, "x-attempt"); got != tc.want {
			t.Errorf("header(%T %v) = %d, want %d", tc.v, tc.v, got, tc.want)
		}
	}
}
