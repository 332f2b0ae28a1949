package main

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/user"
	"time"

	"github.com/spf13/cobra"

	"github.com/couplerhq/coupler/cmd/coupler/remote"
	"github.com/couplerhq/coupler/engine/lock"
)

func newApprove(g *globals) *cobra.Command {
	var by string
	cmd := &cobra.Command{
		Use:   "approve PLAN",
		Short: "Approve a saved plan that waits for a person, by id or name (latest: the newest)",
		Long: `Some plans need a person's approval before coupler serve applies them: a
first sync that would create records in a destination already holding
records, a plan that deletes records, and one that changes more than the
project's approval: changed_share of the records (see docs/operations.md).
serve's run then ends "waiting for approval", and serve applies that very
plan once it is approved: on its page (the Approve button), or with
coupler approve when no serve holds the state database.

The approval is recorded in the state with who gave it and when, and every
format of the plan shows it. coupler apply of an approved plan applies it
even where it creates records into a destination that holds records (as
coupler acknowledge MAPPING allows). On the command line, apply's
confirmation prompt, or --auto-approve, is the person for deletes and for
the share of records changing.

A plan that needs no approval, is applied already, or is stale (a later
apply moved its mappings on, or the project changed) is refused.`,
		Example: `  coupler approve latest
  coupler approve 20261124-083414-6f80fe --by ana`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			e, err := g.openOffline(cmd.Context())
			if err != nil {
				return approveOnServe(err, args[0])
			}
			defer e.Close()
			if by == "" {
				by = currentUser()
			}
			p, err := e.Approve(cmd.Context(), args[0], by)
			if err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "Plan %s approved by %s at %s\n", p.ID, p.Approved.By, p.Approved.At.UTC().Format(time.RFC3339))
			for _, r := range p.ApprovalReasons() {
				fmt.Fprintf(g.stdout, "  %s\n", r)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&by, "by", "", "who approves, as the plan records it (default: your user name)")
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

// approveOnServe turns the error of opening the state database held by a
// coupler serve into where to approve the plan instead: serve's page.
func approveOnServe(err error, ref string) error {
	var held *lock.HeldError
	if !errors.As(err, &held) {
		return err
	}
	info, ok := remote.Find(held.State, held.Holder.PID)
	if !ok {
		return err
	}
	page := info.URL + "/plans/" + url.PathEscape(ref)
	return fmt.Errorf("coupler serve (pid %d) holds the state database: approve the plan on its page, %s (the Approve button), or POST %s/approve", info.PID, page, page)
}
