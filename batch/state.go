package batch

import (
	"fmt"
	"iter"
	"slices"
	"strings"

	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
)

// State is a user's MFA settings as Cognito reports them (GetUser and
// AdminGetUser): which of SMS, TOTP and email are enabled, and which one
// is preferred. Passkeys are not in that report, so a State says nothing
// of them. The zero value is a state that was not read.
type State struct {
	read      bool
	enabled   [stateFactors]bool
	preferred int // index into stateNames; -1 for none
}

// The factors a State holds, in the order its string lists them.
const stateFactors = 3

var (
	stateNames = [stateFactors]string{"sms", "totp", "email"}
	// apiNames are the values of UserMFASettingList and PreferredMfaSetting.
	apiNames = [stateFactors]string{"SMS_MFA", "SOFTWARE_TOKEN_MFA", "EMAIL_OTP"}
)

// NoMFA is the state of a user with no factor enabled or preferred.
var NoMFA = State{read: true, preferred: -1}

// StateOf is the state in a UserMFASettingList and a PreferredMfaSetting.
// Names it does not know (a factor newer than this tool) are left out.
func StateOf(list []string, preferred *string) State {
	st := NoMFA
	for _, name := range list {
		if i := slices.Index(apiNames[:], name); i >= 0 {
			st.enabled[i] = true
		}
	}
	if preferred != nil {
		st.preferred = slices.Index(apiNames[:], *preferred)
	}
	return st
}

// UserState is the state in a GetUser answer.
func UserState(out *cip.GetUserOutput) State {
	return StateOf(out.UserMFASettingList, out.PreferredMfaSetting)
}

// AdminUserState is the state in an AdminGetUser answer.
func AdminUserState(out *cip.AdminGetUserOutput) State {
	return StateOf(out.UserMFASettingList, out.PreferredMfaSetting)
}

// Known reports whether the state was read.
func (st State) Known() bool { return st.read }

// Enabled reports whether factor i (0 SMS, 1 TOTP, 2 email) is enabled.
func (st State) Enabled(i int) bool { return st.enabled[i] }

// Preferred reports whether factor i is the preferred one.
func (st State) Preferred(i int) bool { return st.preferred == i }

// String is the state as the report's before and after columns show it:
// the enabled factors in the order sms, totp, email, a * on the preferred
// one, such as "sms,totp*"; "none" for no factor; "" when not read. A
// preferred factor Cognito lists as not enabled is shown, starred.
func (st State) String() string {
	if !st.read {
		return ""
	}
	var parts []string
	for i, name := range stateNames {
		switch {
		case st.preferred == i:
			parts = append(parts, name+"*")
		case st.enabled[i]:
			parts = append(parts, name)
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ",")
}

// ParseState reads a state as String writes it; "" is a state not read.
func ParseState(s string) (State, error) {
	s = strings.TrimSpace(s)
	switch s {
	case "":
		return State{}, nil
	case "none":
		return NoMFA, nil
	}
	st := NoMFA
	for part := range strings.SplitSeq(s, ",") {
		name, star := strings.CutSuffix(strings.TrimSpace(part), "*")
		i := slices.Index(stateNames[:], name)
		switch {
		case i < 0:
			return State{}, fmt.Errorf("%q is not an MFA state such as sms,totp*: %q is no factor (want sms, totp or email)", clip(s), clip(name))
		case st.enabled[i]:
			return State{}, fmt.Errorf("%q is not an MFA state: %s is given twice", clip(s), name)
		case star && st.preferred >= 0:
			return State{}, fmt.Errorf("%q is not an MFA state: more than one factor is preferred", clip(s))
		}
		st.enabled[i] = true
		if star {
			st.preferred = i
		}
	}
	return st, nil
}

// stateFactor is the settings field of each factor a State holds.
func (s *Settings) stateFactor(i int) *Factor { return s.factors()[i] }

// sent yields the factors a State holds that s sends a block for, by
// their index in a State.
func (s Settings) sent() iter.Seq2[int, Factor] {
	return func(yield func(int, Factor) bool) {
		for i := range stateFactors {
			if f := *s.stateFactor(i); f.IsSet() && !yield(i, f) {
				return
			}
		}
	}
}

// With is the state st becomes when s is written: each factor s sends
// takes the sent Enabled and PreferredMfa (a blank field is sent false).
// Preferring a factor takes the preference from any other; a factor sent
// not preferred, or disabled, loses it.
func (st State) With(s Settings) State {
	if !st.read {
		return st
	}
	for i, f := range s.sent() {
		st.enabled[i] = f.Enabled.value()
		switch {
		case f.Preferred.value():
			st.preferred = i
		case st.preferred == i:
			st.preferred = -1
		}
	}
	return st
}

// Meets reports whether st already is what s asks, on the factors s sends:
// each enabled or not as asked, and preferred or not as asked. A passkey
// is not in a State, so it is never compared.
func (st State) Meets(s Settings) bool {
	if !st.read {
		return false
	}
	for i, f := range s.sent() {
		if st.enabled[i] != f.Enabled.value() || (st.preferred == i) != f.Preferred.value() {
			return false
		}
	}
	return true
}

// Restore is the settings that put a user back in st: every factor in
// factors (indexes, as for Enabled), and the factor st prefers, set as st
// has it. It is how a rollback undoes a row that changed those factors.
func (st State) Restore(factors []int) Settings {
	var s Settings
	for i := range stateFactors {
		if !slices.Contains(factors, i) && st.preferred != i {
			continue
		}
		f := s.stateFactor(i)
		f.Enabled, f.Preferred = boolOf(st.enabled[i] || st.preferred == i), boolOf(st.preferred == i)
	}
	return s
}

func boolOf(b bool) Bool {
	if b {
		return True
	}
	return False
}

// Prior is what an earlier run's report says of a row it did, carried
// into the report of a run that resumes from it: the state read before
// the write, the state after, and what the write did. A rollback of the
// resumed run's report then still knows what to put back.
type Prior struct {
	Before, After State
	Action        string
}

// Pack is p in 16 bits, so that a resume can keep it for a million rows.
func (p Prior) Pack() uint16 {
	action := uint16(0)
	switch p.Action {
	case ActionChange:
		action = 1
	case ActionNone:
		action = 2
	}
	return action<<12 | uint16(p.Before.pack())<<6 | uint16(p.After.pack())
}

// UnpackPrior is the Prior that Pack packed.
func UnpackPrior(v uint16) Prior {
	p := Prior{Before: unpackState(uint8(v >> 6 & 0x3f)), After: unpackState(uint8(v & 0x3f))}
	switch v >> 12 {
	case 1:
		p.Action = ActionChange
	case 2:
		p.Action = ActionNone
	}
	return p
}

// pack is st in 6 bits: read, three enabled factors, and the preferred
// one plus one (0 for none).
func (st State) pack() uint8 {
	if !st.read {
		return 0
	}
	v := uint8(1)
	for i, on := range st.enabled {
		if on {
			v |= 1 << (1 + i)
		}
	}
	return v | uint8(st.preferred+1)<<4
}

func unpackState(v uint8) State {
	if v&1 == 0 {
		return State{}
	}
	st := NoMFA
	for i := range st.enabled {
		st.enabled[i] = v&(1<<(1+i)) != 0
	}
	st.preferred = int(v>>4) - 1
	return st
}
