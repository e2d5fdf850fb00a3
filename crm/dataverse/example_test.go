package dataverse_test

import (
	"context"
	"fmt"
	"log"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/crm/dataverse"
)

// Logging a message is an upsert by Parley's message ID, so that logging
// it again (a retried job, a status update) changes the same activity.
func ExampleClient_Upsert() {
	cfg := &parley.DataverseConfig{
		EnvironmentURL: "https://contoso.crm4.dynamics.com",
		EntraTenantID:  "contoso.onmicrosoft.com",
		ClientID:       "535fb089-9ff3-47b6-9bfb-4f1264799865",
		ClientSecret:   "…",
	}
	c, err := dataverse.New(cfg)
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	status, _ := dataverse.StatusOption(parley.StatusDelivered)
	err = c.Upsert(ctx, dataverse.MessageEntitySet, dataverse.Key(dataverse.ColMessageID, "msg_2x7"), map[string]any{
		"subject":              "WhatsApp to +5511987654321",
		dataverse.ColStatus:    status,
		dataverse.ColDirection: dataverse.DirectionOutbound,
		"regardingobjectid_lead_parley_whatsappmessage@odata.bind": "/leads(7eb682f1-ca75-e511-80d4-00155d2a68d1)",
	})
	if d, ok := dataverse.RetryAfter(err); ok {
		fmt.Println("throttled: try again in", d) // the job is snoozed, not dropped
	} else if err != nil {
		log.Fatal(err)
	}
}
