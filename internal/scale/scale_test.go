package scale

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/exokeys/exoscale-keys-mcp/internal/coord"
	"github.com/exokeys/exoscale-keys-mcp/internal/metrics"
	"github.com/exokeys/exoscale-keys-mcp/tools"
)

// TestOutcomeOf_TellsFailuresApartByCause: the outcome label of a call says why it failed,
// from a fixed set.
func TestOutcomeOf_TellsFailuresApartByCause(t *testing.T) {
	t.Parallel()
	live := context.Background()
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	expired, cancel2 := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel2()
	down := "create-api-key refused: " + coord.ErrUnavailable.Error() + ": redis at /tmp/r.sock: connection refused"
	for _, tc := range []struct {
		ctx  context.Context
		res  tools.Result
		err  error
		want metrics.Outcome
	}{
		{live, tools.Result{Outcome: tools.OK}, nil, metrics.OutcomeOK},
		{live, tools.Result{Outcome: tools.DryRun}, nil, metrics.OutcomeDryRun},
		{live, tools.Result{Outcome: tools.Invalid}, nil, metrics.OutcomeInvalid},
		{live, tools.Result{Outcome: tools.Declined}, nil, metrics.OutcomeDeclined},
		{live, tools.Result{Outcome: tools.NeedsInput}, nil, metrics.OutcomeNeedsInput},
		{live, tools.Result{Outcome: tools.Refused, Text: "would lock the server out"}, nil, metrics.OutcomeRefused},
		{live, tools.Result{Outcome: tools.Refused, Text: down}, nil, metrics.OutcomeUnavailable},
		{live, tools.Result{Outcome: tools.Failed, Text: "404 Not Found"}, nil, metrics.OutcomeUpstreamError},
		{cancelled, tools.Result{Outcome: tools.Failed}, nil, metrics.OutcomeCanceled},
		{expired, tools.Result{Outcome: tools.Failed}, nil, metrics.OutcomeTimeout},
		{live, tools.Result{}, errors.New("bug"), metrics.OutcomeInternal},
	} {
		assert.Equal(t, tc.want, outcomeOf(tc.ctx, tc.res, tc.err), "%v %q", tc.res.Outcome, tc.res.Text)
	}
}
