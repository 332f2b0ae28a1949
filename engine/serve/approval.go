package serve

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/couplerhq/coupler/engine/plan"
)

// A plan that needs a person's approval (a first sync into a destination
// that holds records, deletes, more than the project's share of records
// changing) is not applied by serve: the run ends waiting for approval
// (ErrNeedsReview), and the mapping is not planned again while its plan
// waits, unless a person asks for a run. Once someone approves that plan
// (POST /plans/{id}/approve from its page, or coupler approve), the
// mapping runs at once and applies exactly that plan; a plan that became
// stale meanwhile is said so and planned again.

// Approver is implemented by a Runner that can approve plans and apply an
// approved plan.
type Approver interface {
	// Approve records that by approved the saved plan ref (an id, a name
	// or "latest"). An error wrapping ErrNotFound means there is no such
	// plan; ErrConflict, that the plan cannot be approved (it needs no
	// approval, is applied, or is stale).
	Approve(ctx context.Context, ref, by string) (Approval, error)
	// RunApproved runs mapping by applying the approved plan planID, as
	// Run applies the plan it makes; when that plan became stale it says
	// so in Result.Note and plans again, as Run does.
	RunApproved(ctx context.Context, drain <-chan struct{}, mapping, planID string) (Result, error)
}

// Approval is a plan's approval as Approver.Approve records it.
type Approval struct {
	PlanID string
	// Mappings are the plan's mappings.
	Mappings []string
	By       string
	At       time.Time
}

// ErrConflict is what an error wraps when the state forbids the request:
// a plan that cannot be approved. It is answered 409.
var ErrConflict = errors.New("conflict")

// stillWaiting reports whether mapping's run is to be left out because its
// plan waits for approval and no person asked for a run; it then ends the
// job's turn, so that the schedule comes round again.
func (s *Server) stillWaiting(name string) bool {
	s.mu.Lock()
	lr := s.last[name]
	wait := lr != nil && lr.Waiting && !s.asked[name] && s.approved[name] == ""
	delete(s.asked, name)
	s.mu.Unlock()
	if !wait {
		return false
	}
	if s.approvedElsewhere(name, lr.Result.PlanID) {
		return false
	}
	s.log.Info("plan still waiting for approval: not planned again", "mapping", name, "plan", lr.Result.PlanID)
	s.sched.Done(name, false, ErrNeedsReview)
	return true
}

// approvedElsewhere reports whether the plan mapping waits on no longer
// waits, when the Runner is shared by several processes (Leader): another
// process's page may have approved it (and queued its apply), or it was
// applied with coupler apply. An approved plan not yet applied is handed
// to the run.
func (s *Server) approvedElsewhere(name, planID string) bool {
	v, ok := s.cfg.Runner.(Views)
	if _, shared := s.cfg.Runner.(Leader); !ok || !shared {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := v.Plan(ctx, planID)
	if err != nil || p.WaitsForApproval() {
		return false
	}
	if p.Approved != nil && p.Status == plan.Planned {
		s.mu.Lock()
		s.approved[name] = planID
		s.mu.Unlock()
	}
	return true
}

// dispatch runs mapping: the records a person asked to retry are released
// first, then the plan approved for it is applied, or a new plan made and
// applied.
func (s *Server) dispatch(ctx context.Context, drain <-chan struct{}, name string) (Result, error) {
	s.mu.Lock()
	planID := s.approved[name]
	delete(s.approved, name)
	ids := s.retries[name]
	delete(s.retries, name)
	s.mu.Unlock()
	if len(ids) > 0 {
		s.retry(ctx, name, ids)
	}
	if a, ok := s.cfg.Runner.(Approver); ok && planID != "" {
		s.log.Info("applying the approved plan", "mapping", name, "plan", planID)
		return a.RunApproved(ctx, drain, name, planID)
	}
	return s.cfg.Runner.Run(ctx, drain, name)
}

// ApproveAnswer is serve's answer to POST /plans/{id}/approve from a
// script or coupler approve: the approval, or in Message why there is none.
type ApproveAnswer struct {
	Plan       string    `json:"plan,omitempty"`
	ApprovedBy string    `json:"approved_by,omitempty"`
	ApprovedAt time.Time `json:"approved_at,omitzero"`
	// Queued are the mappings whose waiting run now applies the plan.
	Queued  []string `json:"queued,omitempty"`
	Message string   `json:"message"`
}

// handleApprove approves a plan: POST /plans/{id}/approve, with the token
// when one is configured, never cross-origin. The mappings that waited on
// the plan run at once and apply it. A form from the plan's page is
// answered with a redirect back to it; anything else with JSON.
func (s *Server) handleApprove(w http.ResponseWriter, r *http.Request) {
	form := strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded")
	id := r.PathValue("id")
	type answer = ApproveAnswer
	reply := func(code int, a answer) {
		if form && code < 300 {
			http.Redirect(w, r, "/plans/"+url.PathEscape(a.Plan)+"?approved=1", http.StatusSeeOther)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(a)
	}
	if code, msg := s.mayWrite(w, r, form, "an approval"); code != 0 {
		form = false
		reply(code, answer{Plan: id, Message: msg})
		return
	}
	approver, ok := s.cfg.Runner.(Approver)
	if !ok {
		form = false
		reply(http.StatusNotFound, answer{Plan: id, Message: "this coupler serve cannot approve plans"})
		return
	}
	a, err := approver.Approve(r.Context(), id, approverName(r, form))
	if err != nil {
		code := http.StatusInternalServerError
		switch {
		case errors.Is(err, ErrNotFound):
			code = http.StatusNotFound
		case errors.Is(err, ErrConflict):
			code = http.StatusConflict
		}
		form = false
		reply(code, answer{Plan: id, Message: s.cfg.Redactor.String(err.Error())})
		return
	}
	queued := s.approvedPlan(a)
	s.log.Info("plan approved", "plan", a.PlanID, "by", a.By, "queued", strings.Join(queued, ","), "remote", r.RemoteAddr)
	msg := "approved; serve waits on no mapping for this plan, so it applies nothing of it: coupler apply " + a.PlanID + " does, where serve does not run"
	if len(queued) > 0 {
		msg = "approved: " + strings.Join(queued, ", ") + " runs now and applies it"
	}
	reply(http.StatusOK, answer{Plan: a.PlanID, ApprovedBy: a.By, ApprovedAt: a.At, Queued: queued, Message: msg})
}

// approvedPlan hands an approved plan to the mappings that wait on it and
// makes them due; it returns those mappings.
func (s *Server) approvedPlan(a Approval) []string {
	var queued []string
	if l, ok := s.cfg.Runner.(Leader); ok && !s.leading.Load() {
		// Another process schedules: the runs that apply the plan go to
		// the shared queue; the scheduler sees the plan approved.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for _, m := range a.Mappings {
			if err := l.Enqueue(ctx, m, a.PlanID); err != nil {
				s.log.Warn("approved plan not queued", "mapping", m, "plan", a.PlanID, "err", err.Error())
				continue
			}
			queued = append(queued, m)
		}
		return queued
	}
	s.mu.Lock()
	for _, m := range a.Mappings {
		if lr := s.last[m]; lr != nil && lr.Waiting && lr.Result.PlanID == a.PlanID && s.approved[m] == "" {
			s.approved[m] = a.PlanID
			queued = append(queued, m)
		}
	}
	s.mu.Unlock()
	for _, m := range queued {
		if err := s.trigger(m); err != nil {
			s.log.Warn("approved plan not queued", "mapping", m, "plan", a.PlanID, "err", err.Error())
		}
	}
	return queued
}

// approverName is who approves, as the plan records it: the name the
// page's form or coupler approve's by= gave, or the Basic user name a
// browser sent, with how (the page or the API) and where the request
// came from.
func approverName(r *http.Request, form bool) string {
	name := ""
	if form {
		name = strings.TrimSpace(r.PostFormValue("by"))
	} else {
		name = strings.TrimSpace(r.URL.Query().Get("by")) // coupler approve --by
	}
	if user, _, ok := r.BasicAuth(); ok && name == "" {
		name = strings.TrimSpace(user)
	}
	if r := []rune(name); len(r) > 80 {
		name = string(r[:80])
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	// Whether a person clicked on the page or a program (coupler approve,
	// a script) asked the API is part of the record.
	where := "coupler serve page from " + host
	if !form {
		where = "coupler serve API from " + host
	}
	if name == "" {
		return where
	}
	return name + " (" + where + ")"
}
