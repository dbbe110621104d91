package sessions

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/bevygap/bevygap/internal/output"
)

// GetOptions of `sessions get`.
type GetOptions struct {
	D  *Deps
	ID string
}

// NewCmdGet builds `sessions get`.
func NewCmdGet(d *Deps, runF func(context.Context, *GetOptions) error) *cobra.Command {
	o := &GetOptions{D: d}
	return &cobra.Command{
		Use: "get <session-id>",
		Example: `  bevygap sessions get 950dd2eaff09-S
  bevygap sessions get 950dd2eaff09-S -o json --jq .deployment.public_ip`,
		Short:             "Show a session with its deployment IP and ports",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: d.completeIDs(false),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.ID = args[0]
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return getRun(cmd.Context(), o)
		},
	}
}

func getRun(ctx context.Context, o *GetOptions) error {
	eg, err := o.D.Edgegap()
	if err != nil {
		return err
	}
	s, err := eg.GetSession(ctx, o.ID)
	if err != nil {
		return err
	}
	// The webhook URL carries ?secret=<webhook-secret> (session-webhook-url).
	s.WebhookURL = output.RedactURL(s.WebhookURL)
	io := o.D.IO
	if o.D.Format() == output.JSON {
		return output.WriteJSON(io.Out, s)
	}
	t := output.NewTable(io, o.D.Format(), "Field", "Value")
	t.AddRow("session_id", s.ID)
	t.AddRow("status", s.Status)
	t.AddRow("ready", s.Ready)
	t.AddRow("linked", s.Linked)
	t.AddRow("kind", s.Kind)
	t.AddRow("user_count", s.UserCount)
	t.AddRow("created", s.CreateTime)
	if s.Error != "" {
		t.AddRow("error", s.Error)
	}
	if d := s.Deployment; d != nil {
		t.AddRow("deployment", d.RequestID)
		t.AddRow("public_ip", d.PublicIP)
		t.AddRow("fqdn", d.FQDN)
		t.AddRow("deployment_ready", d.Ready)
		t.AddPortRows(d.Ports)
		if d.Location != nil {
			t.AddRow("location", d.Location.City+", "+d.Location.Country)
		}
	}
	return t.Render()
}
