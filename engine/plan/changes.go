package plan

// ChangeRead is how a source read through the service's change tracking
// (a mapping side with changes: track) was read.
type ChangeRead string

// Change tracking reads.
const (
	// ChangesStart read every record and started tracking: the first plan,
	// or a full one.
	ChangesStart ChangeRead = "start"
	// ChangesDelta read only the records created, changed or deleted since
	// the last applied run.
	ChangesDelta ChangeRead = "delta"
	// ChangesRestart read every record because the service no longer knew
	// the last run's point (an expired delta link); the plan warns.
	ChangesRestart ChangeRead = "restart"
)

// Describe says in words how the source was read.
func (c ChangeRead) Describe() string {
	switch c {
	case ChangesStart:
		return "change tracking: every record read; tracking starts with this run"
	case ChangesDelta:
		return "change tracking: only records created, changed or deleted since the last run were read"
	case ChangesRestart:
		return "change tracking: every record read again; tracking restarts with this run"
	}
	return ""
}
