package deployments

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/bevygap/bevygap/internal/cli/factory"
	"github.com/bevygap/bevygap/internal/matchmaker"
	"github.com/bevygap/bevygap/internal/output"
	"github.com/bevygap/bevygap/pkg/edgegap"
)

// LsOptions of `deployments ls`.
type LsOptions struct {
	D         *Deps
	All       bool
	Status    string
	OlderThan time.Duration
	Brief     bool
}

// Port is the JSON shape of one deployment port.
type Port struct {
	External int    `json:"external"`
	Internal int    `json:"internal"`
	Protocol string `json:"protocol"`
}

// Row is the JSON shape of one listed deployment. Every field is always
// present (empty when unknown: app, version and location need the status
// call --brief skips).
type Row struct {
	RequestID string          `json:"request_id"`
	App       string          `json:"app"`
	Version   string          `json:"version"`
	Status    string          `json:"status"` // deploying, ready, error, ... ("ready"/"not_ready" with --brief)
	Ready     bool            `json:"ready"`
	Address   string          `json:"address"` // public ip:external port of the game port
	PublicIP  string          `json:"public_ip"`
	FQDN      string          `json:"fqdn"`
	Ports     map[string]Port `json:"ports"`
	Location  string          `json:"location"`
	Started   *time.Time      `json:"started"`
	Tags      []string        `json:"tags"`
}

// statusWorkers bounds the status calls of one ls in flight (the client's
// deployment-status budget paces them).
const statusWorkers = 4

// NewCmdLs builds `deployments ls`.
func NewCmdLs(d *Deps, runF func(context.Context, *LsOptions) error) *cobra.Command {
	o := &LsOptions{D: d}
	cmd := &cobra.Command{
		Use: "ls",
		Example: `  bevygap deployments ls
  bevygap deployments ls --all --status ready
  bevygap deployments ls --older-than 2h -o json --jq '.[].request_id'`,
		Aliases: []string{"list"},
		Short:   "List bevygap's deployments (--all: every deployment of the organisation)",
		Long: `List Edgegap deployments: request id, app/version, status, ip:port, location,
age and tags. By default only the deployments bevygap started (tagged
"bevygap"); --all lists every deployment of the Edgegap organisation.

Edgegap's listing has no app, version, status or location: ls fetches each
deployment's status for them (one status call per deployment, within the
client's deployment-status budget, shared by the organisation with its
matchmakers). --brief lists without them (one list call per 100).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.OlderThan < 0 {
				return factory.UsageErrorf("--older-than must not be negative")
			}
			if _, err := (edgegap.DeploymentQuery{Status: o.Status}).Encode(); err != nil {
				return factory.UsageErrorf("--status: %v", err)
			}
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return lsRun(cmd.Context(), o)
		},
	}
	cmd.Flags().BoolVar(&o.All, "all", false, "every deployment of the organisation, not only bevygap's")
	cmd.Flags().StringVar(&o.Status, "status", "", "only deployments in this status (ready, deploying, error)")
	cmd.Flags().DurationVar(&o.OlderThan, "older-than", 0, "only deployments started more than this long ago")
	cmd.Flags().BoolVar(&o.Brief, "brief", false, "no status call per deployment: no app, version or location")
	_ = cmd.RegisterFlagCompletionFunc("status", cobra.FixedCompletions([]string{"ready", "deploying", "error"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

func lsRun(ctx context.Context, o *LsOptions) error {
	eg, err := o.D.Edgegap()
	if err != nil {
		return err
	}
	q := edgegap.DeploymentQuery{Status: o.Status}
	if !o.All {
		q.Tags = []string{matchmaker.TagBevygap}
	}
	list, err := eg.ListDeployments(ctx, q)
	if err != nil {
		return err
	}
	now := o.D.Now()
	rows := make([]Row, 0, len(list))
	for _, s := range list {
		r := summaryRow(s, o.Status)
		if o.OlderThan > 0 && (r.Started == nil || now.Sub(*r.Started) < o.OlderThan) {
			continue
		}
		rows = append(rows, r)
	}
	if !o.Brief {
		if rows, err = withStatus(ctx, eg, rows); err != nil {
			return err
		}
	}
	return printRows(o, rows, now)
}

// summaryRow is what the listing says of a deployment.
func summaryRow(s edgegap.DeploymentSummary, status string) Row {
	r := Row{RequestID: s.RequestID, Ready: s.Ready, PublicIP: s.PublicIP, FQDN: s.FQDN, Tags: s.Tags, Status: strings.ToLower(status)}
	if r.Tags == nil {
		r.Tags = []string{}
	}
	if r.Status == "" {
		r.Status = "not_ready"
		if s.Ready {
			r.Status = "ready"
		}
	}
	if t, err := edgegap.ParseTime(s.StartTime); err == nil {
		r.Started = &t
	}
	setPorts(&r, s.Ports)
	return r
}

func setPorts(r *Row, ports map[string]edgegap.Port) {
	r.Ports = map[string]Port{}
	for name, p := range ports {
		r.Ports[name] = Port{External: p.External, Internal: p.Internal, Protocol: p.Protocol}
	}
	if p, ok := (&edgegap.Deployment{Ports: ports}).GamePort(""); ok && r.PublicIP != "" {
		r.Address = net.JoinHostPort(r.PublicIP, strconv.Itoa(p.External))
	}
}

// withStatus completes each row from the deployment's status; a deployment
// that ended meanwhile (404) is left out. An error other than not found
// stops the listing.
func withStatus(ctx context.Context, eg *edgegap.Client, rows []Row) ([]Row, error) {
	gone := make([]bool, len(rows))
	errs := make([]error, len(rows))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(statusWorkers, len(rows)) {
		wg.Go(func() {
			for i := range next {
				st, err := eg.DeploymentStatus(ctx, rows[i].RequestID)
				switch {
				case edgegap.IsNotFound(err):
					gone[i] = true
				case err != nil:
					errs[i] = err
				default:
					fillStatus(&rows[i], st)
				}
			}
		})
	}
	for i := range rows {
		next <- i
	}
	close(next)
	wg.Wait()
	out := rows[:0]
	for i, r := range rows {
		if errs[i] != nil {
			return nil, errs[i]
		}
		if !gone[i] {
			out = append(out, r)
		}
	}
	return out, nil
}

func fillStatus(r *Row, st *edgegap.DeploymentStatus) {
	r.App, r.Version = st.AppName, st.AppVersion
	r.Status = statusName(st.CurrentStatus)
	r.Ready = st.Ready()
	r.Location = location(st.Location)
	if st.PublicIP != "" {
		r.PublicIP, r.FQDN = st.PublicIP, st.FQDN
		setPorts(r, st.Ports)
	}
	if st.Tags != nil {
		r.Tags = st.Tags
	}
}

// statusName turns "Status.READY" into "ready".
func statusName(s string) string { return strings.ToLower(strings.TrimPrefix(s, "Status.")) }

func location(l *edgegap.Location) string {
	switch {
	case l == nil:
		return ""
	case l.City != "" && l.Country != "":
		return l.City + ", " + l.Country
	}
	return l.City + l.Country
}

func printRows(o *LsOptions, rows []Row, now time.Time) error {
	io := o.D.IO
	if o.D.Format() == output.JSON {
		return output.WriteJSON(io.Out, rows)
	}
	if len(rows) == 0 {
		if io.IsStdoutTTY() {
			what := "No bevygap deployments (--all lists every deployment)."
			if o.All {
				what = "No deployments."
			}
			fmt.Fprintln(io.ErrOut, what)
		}
		return nil
	}
	t := output.NewTable(io, o.D.Format(), "Request ID", "App/Version", "Status", "Address", "Location", "Age", "Tags")
	for _, r := range rows {
		appVersion := ""
		if r.App != "" {
			appVersion = r.App + "/" + r.Version
		}
		age := ""
		if r.Started != nil {
			age = output.Ago(o.D.Format(), now, *r.Started)
		}
		t.AddRow(r.RequestID, appVersion, r.Status, r.Address, r.Location, age, strings.Join(r.Tags, ","))
	}
	return t.Render()
}
