package agencies

import (
	"context"
	"log/slog"
	"time"
)

// Simulator stands in for the agencies in dev mode: it grants every open
// submission once it is older than Delay, through the same path a real
// agency's result takes. Its notes say it is a simulator.
type Simulator struct {
	Store  *PGStore
	Notify func(ctx context.Context, proposalID, status, note string) error
	Delay  time.Duration
	Log    *slog.Logger
}

// Run answers due submissions until ctx ends.
func (s *Simulator) Run(ctx context.Context) {
	tick := min(max(s.Delay/4, 50*time.Millisecond), time.Second)
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(tick):
		}
		due, err := s.Store.Due(ctx, s.Delay)
		if err != nil {
			if ctx.Err() == nil {
				s.Log.Warn("sample agencies: due submissions", "error", err)
			}
			continue
		}
		for _, sub := range due {
			const note = "granted by the sample agency simulator (dev mode)"
			if _, err := s.Store.Result(ctx, sub.Agency, sub.ID, "granted", note); err != nil {
				continue // answered meanwhile
			}
			if err := s.Notify(ctx, sub.ProposalID, "granted", note); err != nil && ctx.Err() == nil {
				s.Log.Warn("sample agencies: notify journey", "submission", sub.ID, "error", err)
			}
		}
	}
}
