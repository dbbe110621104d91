package deployments

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/bevygap/bevygap/internal/output"
)

// GetOptions of `deployments get`.
type GetOptions struct {
	D  *Deps
	ID string
}

// NewCmdGet builds `deployments get`.
func NewCmdGet(d *Deps, runF func(context.Context, *GetOptions) error) *cobra.Command {
	o := &GetOptions{D: d}
	return &cobra.Command{
		Use: "get <request-id>",
		Example: `  bevygap deployments get 1a2b3c4d5e6f
  bevygap deployments get 1a2b3c4d5e6f -o json --jq .public_ip`,
		Short:             "Show a deployment's full status",
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
	st, err := eg.DeploymentStatus(ctx, o.ID)
	if err != nil {
		return err
	}
	io := o.D.IO
	if o.D.Format() == output.JSON {
		return output.WriteJSON(io.Out, st)
	}
	t := output.NewTable(io, o.D.Format(), "Field", "Value")
	t.AddRow("request_id", st.RequestID)
	t.AddRow("app", st.AppName)
	t.AddRow("version", st.AppVersion)
	t.AddRow("status", statusName(st.CurrentStatus))
	t.AddRow("running", st.Running)
	if st.Error || st.ErrorDetail != "" {
		t.AddRow("error", st.ErrorDetail)
	}
	t.AddRow("public_ip", st.PublicIP)
	t.AddRow("fqdn", st.FQDN)
	t.AddRow("started", st.StartTime)
	if st.RemovalTime != "" {
		t.AddRow("removal_time", st.RemovalTime)
	}
	t.AddPortRows(st.Ports)
	if l := location(st.Location); l != "" {
		t.AddRow("location", l)
	}
	if st.Sockets > 0 {
		t.AddRow("sockets", fmt.Sprintf("%d used of %d", st.SocketsUsage, st.Sockets))
	}
	t.AddRow("tags", strings.Join(st.Tags, ","))
	return t.Render()
}
