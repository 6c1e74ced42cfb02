package portal

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/lifeevents/lifeevents/consent"
	"github.com/lifeevents/lifeevents/inbox"
	"github.com/lifeevents/lifeevents/proposals"
)

func sortedKeys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

type postkorb struct {
	Proposals []proposals.Proposal
	Messages  []inbox.Message
	Unread    map[string]bool
	// Pages of each list (from 1), and whether there is a next.
	PPage, MPage         int
	MoreP, MoreM         bool
	PrevPLink, NextPLink string
	PrevMLink, NextMLink string
}

// perPage is how many proposals, and how many messages, a Postkorb page
// shows: a long inbox is read in pages, as in any mail client.
const perPage = 25

func pageParam(r *http.Request, name string) int {
	n, err := strconv.Atoi(r.URL.Query().Get(name))
	if err != nil || n < 1 || n > 10000 {
		return 1
	}
	return n
}

func pageOf[T any](items []T, page int) ([]T, bool) {
	from := min((page-1)*perPage, len(items))
	to := min(from+perPage, len(items))
	return items[from:to], to < len(items)
}

// home is the start page, or the Postkorb once logged in: proposals and
// messages, newest first. Showing a message opens it (§9 OZG).
func (p *Portal) home(w http.ResponseWriter, r *http.Request, v *view) {
	if v.Citizen == "" {
		p.render(w, r, v, http.StatusOK, "start", "start.title", nil)
		return
	}
	if v.level < p.cfg.ReadLevel {
		p.renderError(w, r, http.StatusForbidden, "error.level_read")
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	ctx := r.Context()
	ps, err := p.d.Proposals.ListForCitizen(ctx, v.Citizen, "")
	if err != nil {
		p.internal(w, r, err)
		return
	}
	ms, err := p.d.Messages.ListForCitizen(ctx, v.Citizen)
	if err != nil {
		p.internal(w, r, err)
		return
	}
	sort.SliceStable(ps, func(i, j int) bool { return ps[i].CreatedAt.After(ps[j].CreatedAt) })
	data := postkorb{Unread: map[string]bool{}, PPage: pageParam(r, "p"), MPage: pageParam(r, "m")}
	data.Proposals, data.MoreP = pageOf(ps, data.PPage)
	shown, more := pageOf(ms, data.MPage)
	data.MoreM = more
	link := func(p, m int) string { return fmt.Sprintf("/?p=%d&m=%d", p, m) }
	if data.PPage > 1 {
		data.PrevPLink = link(data.PPage-1, data.MPage)
	}
	if data.MoreP {
		data.NextPLink = link(data.PPage+1, data.MPage)
	}
	if data.MPage > 1 {
		data.PrevMLink = link(data.PPage, data.MPage-1) + "#messages"
	}
	if data.MoreM {
		data.NextMLink = link(data.PPage, data.MPage+1) + "#messages"
	}
	var unread []string
	for _, m := range shown {
		data.Messages = append(data.Messages, m.Render(p.d.Texts, v.Lang, p.d.Services.ServiceName))
		if m.OpenedAt == nil {
			data.Unread[m.ID] = true
			unread = append(unread, m.ID)
		}
	}
	// Shown is opened (§9 OZG): only a page that rendered, only for GET.
	if !p.render(w, r, v, http.StatusOK, "postkorb", "postkorb.title", data) || r.Method != http.MethodGet {
		return
	}
	if len(unread) > 0 {
		if _, err := p.d.Messages.MarkOpened(ctx, v.Citizen, unread); err != nil {
			p.d.Log.WarnContext(ctx, "could not record opened messages", "error", err)
		}
	}
}

// ownProposal loads the caller's proposal; anyone else's is 404, the same
// as one that does not exist.
func (p *Portal) ownProposal(w http.ResponseWriter, r *http.Request, v *view) (proposals.Proposal, bool) {
	pr, err := p.d.Proposals.GetForCitizen(r.Context(), v.Citizen, r.PathValue("id"))
	if errors.Is(err, proposals.ErrNotFound) {
		p.renderError(w, r, http.StatusNotFound, "error.not_found")
		return pr, false
	}
	if err != nil {
		p.internal(w, r, err)
		return pr, false
	}
	return pr, true
}

type proposalPage struct {
	P       proposals.Proposal
	Pending bool
	Level   bool
	// Asked are the fields the citizen fills in on the check page, with
	// what they typed and what is wrong with it.
	Asked   []proposals.Field
	Answers map[string]string
	Problem *proposals.AnswerError
}

func asked(fs []proposals.Field) []proposals.Field {
	var out []proposals.Field
	for _, f := range fs {
		if f.Ask != "" {
			out = append(out, f)
		}
	}
	return out
}

func (p *Portal) proposal(w http.ResponseWriter, r *http.Request, v *view) {
	pr, ok := p.ownProposal(w, r, v)
	if !ok {
		return
	}
	p.render(w, r, v, http.StatusOK, "proposal", "proposal.title",
		proposalPage{P: pr, Pending: pr.Status == proposals.StatusPending, Level: v.level >= p.cfg.ActLevel})
}

// check is the check-your-answers page before an acceptance.
func (p *Portal) check(w http.ResponseWriter, r *http.Request, v *view) {
	pr, ok := p.ownProposal(w, r, v)
	if !ok {
		return
	}
	if pr.Status != proposals.StatusPending {
		p.renderError(w, r, http.StatusConflict, "error.not_pending")
		return
	}
	page := checkPage(pr, map[string]string{}, nil)
	page.Level = v.level >= p.cfg.ActLevel
	p.render(w, r, v, http.StatusOK, "check", "check.title", page)
}

// checkPage is the check-your-answers page of a pending proposal, with
// what the citizen typed and what is wrong with it (nil: nothing yet).
// Decisions are only posted at the level to act, so Level is true there.
func checkPage(pr proposals.Proposal, answers map[string]string, problem *proposals.AnswerError) proposalPage {
	return proposalPage{P: pr, Pending: true, Level: true, Asked: asked(pr.Fields), Answers: answers, Problem: problem}
}

func (p *Portal) decide(w http.ResponseWriter, r *http.Request, v *view) {
	r.Body = http.MaxBytesReader(w, r.Body, 4096)
	decision := proposals.Decision(r.PostFormValue("decision"))
	if !decision.Valid() {
		p.renderError(w, r, http.StatusBadRequest, "error.bad_request")
		return
	}
	pr, ok := p.ownProposal(w, r, v)
	if !ok {
		return
	}
	if pr.Status != proposals.StatusPending {
		// A second click on the same button, or a decision already made
		// in another tab: nothing changes.
		p.renderError(w, r, http.StatusConflict, "error.not_pending")
		return
	}
	var answers map[string]string
	if decision == proposals.Accept {
		answers = map[string]string{}
		for _, f := range asked(pr.Fields) {
			answers[f.Name] = r.PostFormValue("answer." + f.Name)
		}
		if _, err := proposals.Fill(pr.Fields, answers); err != nil {
			// The page again, with what was typed and what is wrong.
			var problem *proposals.AnswerError
			errors.As(err, &problem)
			p.render(w, r, v, http.StatusUnprocessableEntity, "check", "check.title_error", checkPage(pr, answers, problem))
			return
		}
		if len(answers) == 0 {
			answers = nil
		}
	}
	_, err := p.d.Decisions.Decide(r.Context(), v.Citizen, pr.ID, decision, answers)
	var answerErr *proposals.AnswerError
	switch {
	case errors.As(err, &answerErr):
		p.render(w, r, v, http.StatusUnprocessableEntity, "check", "check.title_error", checkPage(pr, answers, answerErr))
	case errors.Is(err, proposals.ErrNotPending), errors.Is(err, proposals.ErrNotFound):
		// Ended meanwhile, or its journey is gone: the read model showed
		// it pending and the citizen's, so it is not another's.
		p.renderError(w, r, http.StatusConflict, "error.not_pending")
	case err != nil:
		p.internal(w, r, err)
	default:
		p.sessions.Put(r.Context(), "decided:"+pr.ID, string(decision))
		http.Redirect(w, r, "/proposals/"+pr.ID+"/done", http.StatusSeeOther)
	}
}

// done confirms a decision with its reference and what happens next.
func (p *Portal) done(w http.ResponseWriter, r *http.Request, v *view) {
	pr, ok := p.ownProposal(w, r, v)
	if !ok {
		return
	}
	if pr.Status == proposals.StatusPending {
		// The journey took the decision a moment before the read model
		// shows it: say what was decided, not what the table still holds.
		switch proposals.Decision(p.sessions.GetString(r.Context(), "decided:"+pr.ID)) {
		case proposals.Accept:
			pr.Status = proposals.StatusAccepted
		case proposals.Decline:
			pr.Status = proposals.StatusDeclined
		default:
			http.Redirect(w, r, "/proposals/"+pr.ID, http.StatusSeeOther)
			return
		}
	}
	p.render(w, r, v, http.StatusOK, "done", "done.title", proposalPage{P: pr})
}

type consentsPage struct {
	Consents []consent.Consent
	// Offerable are proposals whose service could be applied for
	// automatically from now on (one per service and recipient).
	Offerable []proposals.Proposal
	Notice    string
	Names     map[string]string
}

func (p *Portal) consents(w http.ResponseWriter, r *http.Request, v *view) {
	ctx := r.Context()
	cs, err := p.d.Consents.List(ctx, v.Citizen)
	if err != nil {
		p.internal(w, r, err)
		return
	}
	ps, err := p.d.Proposals.ListForCitizen(ctx, v.Citizen, "")
	if err != nil {
		p.internal(w, r, err)
		return
	}
	standing := map[string]bool{}
	for _, c := range cs {
		if c.Kind == consent.KindStanding && c.Status == consent.StatusActive {
			standing[c.Purpose+"\x00"+c.Recipient] = true
		}
	}
	data := consentsPage{Consents: cs, Names: map[string]string{}}
	for _, pr := range ps {
		data.Names[pr.Recipient.ID] = pr.Recipient.Name
	}
	seen := map[string]bool{}
	for _, pr := range ps {
		k := pr.Service + "\x00" + pr.Recipient.ID
		if !p.standingPossible(pr) || seen[k] || standing[k] {
			continue
		}
		seen[k] = true
		data.Offerable = append(data.Offerable, pr)
	}
	switch r.URL.Query().Get("done") {
	case "withdrawn":
		data.Notice = "consents.notice_withdrawn"
	case "given":
		data.Notice = "consents.notice_given"
	}
	p.render(w, r, v, http.StatusOK, "consents", "consents.title", data)
}

// standingPossible: a standing consent for the proposal's service would
// apply for it at the next event, so offering one promises nothing false.
// That takes a consent basis, a catalog that lets the service be applied
// for automatically, and no value the citizen must give.
func (p *Portal) standingPossible(pr proposals.Proposal) bool {
	return pr.Basis.Kind == proposals.BasisConsent && p.d.Services.AppliesAutomatically(pr.Service) && !proposals.Asks(pr.Fields)
}

// giveConsent records a standing consent for the service of one of the
// caller's proposals: its recipient and fields, for every later event.
func (p *Portal) giveConsent(w http.ResponseWriter, r *http.Request, v *view) {
	r.Body = http.MaxBytesReader(w, r.Body, 4096)
	id := r.PostFormValue("proposal")
	if !validID(id) {
		p.renderError(w, r, http.StatusUnprocessableEntity, "error.choose_service")
		return
	}
	pr, err := p.d.Proposals.GetForCitizen(r.Context(), v.Citizen, id)
	if errors.Is(err, proposals.ErrNotFound) {
		p.renderError(w, r, http.StatusNotFound, "error.not_found")
		return
	}
	if err != nil {
		p.internal(w, r, err)
		return
	}
	if !p.standingPossible(pr) {
		p.renderError(w, r, http.StatusUnprocessableEntity, "error.choose_service")
		return
	}
	var fields []string
	for _, f := range pr.Fields {
		fields = append(fields, f.Name)
	}
	_, withdrawn, err := p.d.Consents.Give(r.Context(), v.Citizen, consent.Request{Kind: consent.KindStanding,
		Purpose: pr.Service, Recipient: pr.Recipient.ID, Fields: fields, Method: "portal"})
	if !p.consentDone(w, r, err, withdrawn) {
		return
	}
	http.Redirect(w, r, "/consents?done=given", http.StatusSeeOther)
}

// consentDone answers a consent store's error with a page, or tells the
// journeys of proposals the change took back.
func (p *Portal) consentDone(w http.ResponseWriter, r *http.Request, err error, withdrawn []consent.Withdrawn) bool {
	// What was withdrawn is withdrawn even when a later step failed: the
	// journeys hear of it first.
	if len(withdrawn) > 0 {
		if nerr := p.d.Decisions.ProposalsWithdrawn(r.Context(), withdrawn); nerr != nil {
			// The read model shows them withdrawn and the journeys check
			// consent again before any transfer.
			p.d.Log.WarnContext(r.Context(), "could not tell journeys of withdrawn proposals", "count", len(withdrawn), "error", nerr)
		}
	}
	var inv *consent.InvalidError
	switch {
	case errors.As(err, &inv):
		p.renderError(w, r, http.StatusUnprocessableEntity, "error.consent_invalid")
		return false
	case errors.Is(err, consent.ErrNotFound):
		p.renderError(w, r, http.StatusNotFound, "error.not_found")
		return false
	case errors.Is(err, consent.ErrAlreadyWithdrawn), errors.Is(err, consent.ErrExpired):
		p.renderError(w, r, http.StatusConflict, "error.already_withdrawn")
		return false
	case err != nil:
		p.internal(w, r, err)
		return false
	}
	return true
}

func (p *Portal) withdraw(w http.ResponseWriter, r *http.Request, v *view) {
	_, withdrawn, err := p.d.Consents.Withdraw(r.Context(), v.Citizen, r.PathValue("id"), "portal")
	if !p.consentDone(w, r, err, withdrawn) {
		return
	}
	http.Redirect(w, r, "/consents?done=withdrawn", http.StatusSeeOther)
}

func (p *Portal) receipt(w http.ResponseWriter, r *http.Request, v *view) {
	rc, err := p.d.Consents.Receipt(r.Context(), v.Citizen, r.PathValue("id"))
	if !p.consentDone(w, r, err, nil) {
		return
	}
	w.Header().Set("Content-Disposition", `attachment; filename="consent-`+rc.Consent.ID+`.json"`)
	writeJSON(w, rc)
}

type transfersPage struct {
	Transfers  []consent.Record
	Recipients []string
	// Names are the recipients' names, from the citizen's proposals (the
	// log keeps their ids).
	Names     map[string]string
	Recipient string
	From, To  string
	Invalid   bool
}

// transfers is the transparency log, filtered by recipient and period.
func (p *Portal) transfers(w http.ResponseWriter, r *http.Request, v *view) {
	all, err := p.d.Consents.Transfers(r.Context(), v.Citizen)
	if err != nil {
		p.internal(w, r, err)
		return
	}
	names, err := p.recipientNames(r, v.Citizen)
	if err != nil {
		p.internal(w, r, err)
		return
	}
	q := r.URL.Query()
	data := transfersPage{Recipient: q.Get("recipient"), From: q.Get("from"), To: q.Get("to"), Names: names}
	from, errFrom := parseDay(data.From, p.berlin)
	to, errTo := parseDay(data.To, p.berlin)
	code := http.StatusOK
	if errFrom != nil || errTo != nil {
		data.Invalid, code = true, http.StatusUnprocessableEntity
	}
	seen := map[string]bool{}
	for _, t := range all {
		if !seen[t.Recipient] {
			seen[t.Recipient] = true
			data.Recipients = append(data.Recipients, t.Recipient)
		}
		if data.Recipient != "" && t.Recipient != data.Recipient {
			continue
		}
		if !from.IsZero() && t.At.Before(from) || !to.IsZero() && !t.At.Before(to.AddDate(0, 0, 1)) {
			continue
		}
		data.Transfers = append(data.Transfers, t)
	}
	slices.Sort(data.Recipients)
	p.render(w, r, v, code, "transfers", "transfers.title", data)
}

// recipientNames maps the recipients of the citizen's proposals from id to
// name, for the log and the consents, which keep ids.
func (p *Portal) recipientNames(r *http.Request, citizen string) (map[string]string, error) {
	ps, err := p.d.Proposals.ListForCitizen(r.Context(), citizen, "")
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, pr := range ps {
		out[pr.Recipient.ID] = pr.Recipient.Name
	}
	return out, nil
}

func parseDay(s string, loc *time.Location) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	return time.ParseInLocation("2006-01-02", s, loc)
}

type dataPage struct {
	Proposals, Consents, Transfers, Messages int
	OffersAllowed, OptIn                     bool
	Notice                                   string
}

// data shows what is held and the switch for proactive offers.
func (p *Portal) data(w http.ResponseWriter, r *http.Request, v *view) {
	ex, err := p.collect(r, v.Citizen)
	if err != nil {
		p.internal(w, r, err)
		return
	}
	allowed, err := p.d.Consents.OffersAllowed(r.Context(), v.Citizen, p.cfg.OffersOptIn)
	if err != nil {
		p.internal(w, r, err)
		return
	}
	d := dataPage{Proposals: len(ex.Proposals), Consents: len(ex.Consents), Transfers: len(ex.Transfers),
		Messages: len(ex.Messages), OffersAllowed: allowed, OptIn: p.cfg.OffersOptIn}
	if r.URL.Query().Get("done") == "offers" {
		d.Notice = "data.notice_saved"
	}
	p.render(w, r, v, http.StatusOK, "data", "data.title", d)
}

type export struct {
	CitizenID string               `json:"citizenId"`
	Consents  []consent.Consent    `json:"consents"`
	Proposals []proposals.Proposal `json:"proposals"`
	Transfers []consent.Record     `json:"transfers"`
	Messages  []inbox.Message      `json:"messages"`
}

func (p *Portal) collect(r *http.Request, citizen string) (export, error) {
	ctx := r.Context()
	ex := export{CitizenID: citizen}
	var err error
	if ex.Consents, err = p.d.Consents.List(ctx, citizen); err != nil {
		return ex, err
	}
	if ex.Proposals, err = p.d.Proposals.ListForCitizen(ctx, citizen, ""); err != nil {
		return ex, err
	}
	if ex.Transfers, err = p.d.Consents.Transfers(ctx, citizen); err != nil {
		return ex, err
	}
	ex.Messages, err = p.d.Messages.ListForCitizen(ctx, citizen)
	return ex, err
}

func (p *Portal) export(w http.ResponseWriter, r *http.Request, v *view) {
	ex, err := p.collect(r, v.Citizen)
	if err != nil {
		p.internal(w, r, err)
		return
	}
	for i, m := range ex.Messages {
		ex.Messages[i] = m.Render(p.d.Texts, v.Lang, p.d.Services.ServiceName)
	}
	w.Header().Set("Content-Disposition", `attachment; filename="lifeevents-export.json"`)
	writeJSON(w, ex)
}

// offers switches proactive offers: in an opt-out district "off" is an
// objection and "on" withdraws it; in an opt-in district "on" is the
// consent and "off" withdraws it.
func (p *Portal) offers(w http.ResponseWriter, r *http.Request, v *view) {
	r.Body = http.MaxBytesReader(w, r.Body, 4096)
	want := r.PostFormValue("offers")
	if want != "on" && want != "off" {
		p.renderError(w, r, http.StatusBadRequest, "error.bad_request")
		return
	}
	ctx := r.Context()
	allowed, err := p.d.Consents.OffersAllowed(ctx, v.Citizen, p.cfg.OffersOptIn)
	if err != nil {
		p.internal(w, r, err)
		return
	}
	if allowed == (want == "on") {
		http.Redirect(w, r, "/data?done=offers", http.StatusSeeOther)
		return
	}
	kind := consent.KindObjection
	if p.cfg.OffersOptIn {
		kind = consent.KindOffers
	}
	var withdrawn []consent.Withdrawn
	if (want == "off") == (kind == consent.KindObjection) {
		_, withdrawn, err = p.d.Consents.Give(ctx, v.Citizen, consent.Request{Kind: kind, Method: "portal"})
	} else {
		cs, lerr := p.d.Consents.List(ctx, v.Citizen)
		err = lerr
		for _, c := range cs {
			if err == nil && c.Kind == kind && c.Status == consent.StatusActive {
				var ws []consent.Withdrawn
				_, ws, err = p.d.Consents.Withdraw(ctx, v.Citizen, c.ID, "portal")
				withdrawn = append(withdrawn, ws...)
			}
		}
	}
	if !p.consentDone(w, r, err, withdrawn) {
		return
	}
	http.Redirect(w, r, "/data?done=offers", http.StatusSeeOther)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// kindKey is the catalog key of a consent's kind.
func (v *view) Kind(k consent.Kind) string {
	return v.T("consentkind." + strings.ReplaceAll(string(k), "-", "_"))
}
