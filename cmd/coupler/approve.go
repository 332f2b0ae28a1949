package main

import (
	"context"
	"os"
	"os/user"

	"github.com/couplerhq/coupler/cmd/coupler/view"
	"github.com/spf13/cobra"
)

func newApprove(g *globals) *cobra.Command {
	var by, format string
	cmd := &cobra.Command{
		Use:   "approve PLAN",
		Short: "Approve a saved plan that waits for a person, by id or name (latest: the newest)",
		Long: `Some plans need a person's approval before coupler serve applies them: a
first sync that would create records in a destination already holding
records, a plan that deletes records, and one that changes more than the
project's approval: changed_share of the records (see docs/operations.md).
serve's run then ends "waiting for approval", and serve applies that very
plan once it is approved: on its page (the Approve button), or with
coupler approve, which asks serve when serve holds the state database
(with --token or COUPLER_SERVE_TOKEN when serve has a token).

The approval is recorded in the state with who gave it and when, and every
format of the plan shows it. coupler apply of an approved plan applies it
even where it creates records into a destination that holds records (as
coupler acknowledge MAPPING allows). On the command line, apply's
confirmation prompt, or --auto-approve, is the person for deletes and for
the share of records changing.

A plan that needs no approval, is applied already, or is stale (a later
apply moved its mappings on, or the project changed) is refused.`,
		Example: `  coupler approve latest
  coupler approve 20261124-083414-6f80fe --by ana
  coupler approve latest --format json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if by == "" {
				by = currentUser()
			}
			pr, err := g.printer(format)
			if err != nil {
				return err
			}
			e, err := g.openOffline(cmd.Context())
			if err != nil {
				return g.approveOnServe(cmd.Context(), pr, err, args[0], by)
			}
			defer e.Close()
			p, err := e.Approve(cmd.Context(), args[0], by)
			if err != nil {
				return err
			}
			at := p.Approved.At
			return pr.Approval(view.Approval{Plan: p.ID, ApprovedBy: p.Approved.By, ApprovedAt: &at, Reasons: p.ApprovalReasons()})
		},
	}
	cmd.Flags().StringVar(&by, "by", "", "who approves, as the plan records it (default: your user name)")
	formatFlag(cmd, &format)
	serveTokenFlag(cmd, g)
	return cmd
}

// currentUser names the person running coupler, for an approval.
func currentUser() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	return "unknown user"
}

// approveOnServe approves the plan through the coupler serve that holds
// the state database, when err says one does; otherwise it returns err.
func (g *globals) approveOnServe(ctx context.Context, pr *view.Printer, err error, ref, by string) error {
	c, err := g.serveClient(err)
	if err != nil {
		return err
	}
	a, err := c.Approve(ctx, ref, by)
	if err != nil {
		return err
	}
	at := a.ApprovedAt
	return pr.Approval(view.Approval{Plan: a.Plan, ApprovedBy: a.ApprovedBy, ApprovedAt: &at, Serve: a.Message})
}
