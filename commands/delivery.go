package commands

import (
	"context"
	"errors"
	"strconv"

	"github.com/eventbase/eventbase/domain"
	"github.com/eventbase/eventbase/eventstore"
)

// ClaimDelivery decides which of several nodes sharing a store sends the
// side effect (mail, hook) of the event at position pos: the first to
// append to that delivery's stream wins, the others get false. A node that
// dies between claiming and sending loses that one delivery (at most once
// across nodes); a single node does not claim at all.
func (s *Service) ClaimDelivery(ctx context.Context, appID, kind string, pos int64, node string) (bool, error) {
	stream := "delivery-" + kind + "-" + strconv.FormatInt(pos, 10)
	_, err := s.Events.Append(ctx, eventstore.Append{AppID: appID, StreamID: stream, Expected: eventstore.NoStream,
		Events: []eventstore.Proposed{s.proposed(Meta{Actor: "system"}, domain.EventDeliveryClaimed,
			domain.DeliveryClaimedPayload{Kind: kind, Position: pos, Node: node})}})
	if errors.Is(err, eventstore.ErrConflict) {
		return false, nil
	}
	return err == nil, err
}
