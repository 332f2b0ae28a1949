package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/couplerhq/coupler/cmd/coupler/view"
	"github.com/couplerhq/coupler/engine"
)

func newCouple(g *globals) *cobra.Command {
	var (
		match    bool
		mappings []string
		format   string
	)
	cmd := &cobra.Command{
		Use:   "couple (MAPPING TABLE_ID INTEGRATION_ID | --match [--mapping NAME]...)",
		Short: "Couple records by hand, or by their match fields",
		Long: `couple records that the table record TABLE_ID and the integration record
INTEGRATION_ID are the same record for MAPPING, as the product's "Couple" does.
Couplings are one-to-one: a record already coupled must be uncoupled first.
The next plan compares the two and updates the destination where they differ.

With --match it runs match-based coupling for every mapping that declares
match fields (or the --mapping ones): both sides are read in full, each
uncoupled record is coupled to the one record on the other side with equal
match fields, trying priority groups in order; no match, several matches or a
match coupled elsewhere leave the record uncoupled, with the reason. With
create_if_no_match, records nothing matches are created; with sync_after,
coupled records get the source's values at once. Records already coupled are
left alone and the watermarks do not move.

--format json prints the coupling made, or with --match the plan and what
applying it did, as one object (docs/cli-json.md).`,
		Example: `  coupler couple CUSTOMER 6b1c0e42-8c7e-4bd1-9b7e-6f3f1b7a3c01 0d6d6c0c-1f5a-4f0e-8a57-2b8c6a1f4e02
  coupler couple --match --mapping CUSTOMER`,
		Args: func(cmd *cobra.Command, args []string) error {
			if match {
				return cobra.NoArgs(cmd, args)
			}
			return cobra.ExactArgs(3)(cmd, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			printer := g.printer
			if match {
				// It applies a plan, asking first on a terminal.
				printer = func(format string) (*view.Printer, error) { return g.writePrinter(cmd, format) }
			}
			pr, err := printer(format)
			if err != nil {
				return err
			}
			// Coupling by hand records two ids and reaches no service.
			open := g.openOffline
			if match {
				open = g.open
			}
			e, err := open(cmd.Context())
			if err != nil {
				return err
			}
			defer e.Close()
			if match {
				return planAndApply(cmd, g, e, pr, engine.PlanOptions{Mappings: mappings, MatchOnly: true})
			}
			table, integration, err := e.Couple(cmd.Context(), args[0], args[1], args[2])
			if err != nil {
				return err
			}
			return pr.Coupling(view.Coupling{Mapping: args[0], TableID: table, IntegrationID: integration})
		},
	}
	cmd.Flags().BoolVar(&match, "match", false, "couple uncoupled records by the mappings' match fields")
	cmd.Flags().StringArrayVar(&mappings, "mapping", nil, "with --match: only this mapping (repeatable)")
	formatFlag(cmd, &format)
	autoApproveFlag(cmd, g)
	return cmd
}

func newUncouple(g *globals) *cobra.Command {
	var (
		all    bool
		format string
	)
	cmd := &cobra.Command{
		Use:   "uncouple MAPPING [ID...]",
		Short: "Remove couplings; the records themselves stay",
		Long: `uncouple removes the couplings of the records named by their id on either
side, or with --all every coupling of MAPPING. The records in both systems are
not touched; once uncoupled, a record is created again on the other side by the
next plan unless the mapping syncs only coupled records or matches first.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if all == (len(args) > 1) {
				return fmt.Errorf("give the ids to uncouple, or --all, not both")
			}
			pr, err := g.printer(format)
			if err != nil {
				return err
			}
			e, err := g.openOffline(cmd.Context())
			if err != nil {
				return err
			}
			defer e.Close()
			n, err := e.Uncouple(cmd.Context(), args[0], args[1:], all)
			if err != nil {
				return err
			}
			return pr.Uncoupling(view.Uncoupling{Mapping: args[0], Removed: n})
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "remove every coupling of the mapping")
	formatFlag(cmd, &format)
	return cmd
}

func newErrors(g *globals) *cobra.Command {
	var (
		mapping string
		limit   int
		format  string
	)
	cmd := &cobra.Command{
		Use:   "errors",
		Short: "List the records that failed in the latest run of each mapping, and those skipped",
		Long: `errors lists, for the latest run of each mapping and direction, every record
that failed: source id, destination id, what was attempted, the message and
when. A failed record is read again by the next plan. It also lists every
record skipped after failing twice in a row (op "skipped"), however long ago,
until coupler retry releases it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			pr, err := g.printer(format)
			if err != nil {
				return err
			}
			e, err := g.openReader(cmd.Context())
			if err != nil {
				return err
			}
			defer e.Close()
			fs, err := e.Failures(cmd.Context(), mapping, limit)
			if err != nil {
				return err
			}
			// The messages were stored before they were scrubbed, perhaps.
			return pr.Failures(fs)
		},
	}
	cmd.Flags().StringVar(&mapping, "mapping", "", "only this mapping")
	cmd.Flags().IntVar(&limit, "limit", 100, "how many failures to list")
	formatFlag(cmd, &format)
	serveTokenFlag(cmd, g)
	return cmd
}

func newRetry(g *globals) *cobra.Command {
	var (
		all    bool
		format string
	)
	cmd := &cobra.Command{
		Use:   "retry MAPPING [SOURCE_ID...]",
		Short: "Try failed or skipped records again on the next plan",
		Long: `A record that fails with the same error in two runs in a row is skipped:
left out of plans, so that it no longer holds the watermark back. retry
releases the given records (by source id), or with --all every failed record
of MAPPING, and moves the mapping's watermarks back to the earliest of them so
that the next plan reads them again. Fix the cause first: see coupler errors.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if all == (len(args) > 1) {
				return fmt.Errorf("give the source ids to retry, or --all, not both")
			}
			pr, err := g.printer(format)
			if err != nil {
				return err
			}
			e, err := g.openOffline(cmd.Context())
			if err != nil {
				return err
			}
			defer e.Close()
			n, err := e.Retry(cmd.Context(), args[0], args[1:])
			if err != nil {
				return err
			}
			return pr.Retry(view.Retry{Mapping: args[0], Released: n})
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "retry every failed record of the mapping")
	formatFlag(cmd, &format)
	return cmd
}

func newAcknowledge(g *globals) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "acknowledge MAPPING...",
		Short: "Accept that a mapping's first sync creates records where records exist",
		Long: `The first sync of a mapping without match fields, into a destination that
already holds records in the mapping's filter, may create records that exist
there already: a plan says so in a warning, and apply refuses it. Choose one:

  - declare match fields in the mapping and run coupler couple --match, so
    that records both sides hold are coupled, not created twice; or
  - accept the creates: coupler acknowledge MAPPING, recorded in the state,
    after which the same plan applies and later plans are not held back.`,
		Example: `  coupler plan            # warning: first sync into a destination that holds records
  coupler acknowledge CUSTOMER
  coupler apply`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pr, err := g.printer(format)
			if err != nil {
				return err
			}
			e, err := g.openOffline(cmd.Context())
			if err != nil {
				return err
			}
			defer e.Close()
			if err := e.Acknowledge(cmd.Context(), args); err != nil {
				return err
			}
			return pr.Acknowledgement(view.Acknowledgement{Acknowledged: args})
		},
	}
	formatFlag(cmd, &format)
	return cmd
}
