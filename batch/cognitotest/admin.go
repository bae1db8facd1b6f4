package cognitotest

import (
	"cmp"
	"strings"
)

// testAccount is the account id in the ARNs of the server's messages.
const testAccount = "123456789012"

// The service's answers to calls about users and pools, worded as it
// words them, for deciders. Each takes the call it answers, whose pool
// and user name some messages quote.
var (
	// UserNotFound answers UserNotFoundException: no such user in the pool.
	UserNotFound = apiError("UserNotFoundException", func(Call) string { return "User does not exist." })
	// TOTPNotVerified answers InvalidParameterException, as the service
	// answers enabling TOTP for a user who never verified a software token.
	TOTPNotVerified = apiError("InvalidParameterException", func(Call) string { return "User has not verified software token mfa" })
	// totpWritesOnly answers a write as TOTPNotVerified does, and any other
	// call as the user is: reading such a user works.
	totpWritesOnly = func(c Call) Reply {
		if Category(c.Op) != UserUpdate {
			return Reply{}
		}
		return TOTPNotVerified(c)
	}
	// AccessDenied answers AccessDeniedException, as IAM refuses a caller
	// whose policy does not allow the call on the pool.
	AccessDenied = apiError("AccessDeniedException", func(c Call) string {
		return "User: arn:aws:iam::" + testAccount + ":user/mfabatch-test is not authorized to perform: cognito-idp:" +
			c.Op + " on resource: " + poolARN(c) + " because no identity-based policy allows the cognito-idp:" +
			c.Op + " action"
	})
	// PoolNotFound answers ResourceNotFoundException: no such pool.
	PoolNotFound = apiError("ResourceNotFoundException", func(c Call) string {
		return "User pool " + cmp.Or(c.PoolID, "us-east-1_TEST") + " does not exist."
	})
)

func apiError(code string, message func(Call) string) func(Call) Reply {
	return func(c Call) Reply { return Reply{Fault: APIError, Code: code, Message: message(c)} }
}

// poolARN is the ARN of the call's pool, in the region its id names.
func poolARN(c Call) string {
	region := cmp.Or(poolRegion(c.PoolID), "us-east-1")
	return "arn:aws:cognito-idp:" + region + ":" + testAccount + ":userpool/" + c.PoolID
}

// AdminAnswers are answers by a user name's first word, for ByUsername,
// to writes and reads alike: nouser-NAME does not exist, nototp-NAME never
// verified a software token (its writes fail; it reads as it is),
// denied-NAME is in a pool the caller may not use, nopool-NAME in a pool
// that does not exist. (noapply-NAME needs no decider: see User.)
var AdminAnswers = map[string]func(Call) Reply{
	"nouser": UserNotFound,
	"nototp": totpWritesOnly,
	"denied": AccessDenied,
	"nopool": PoolNotFound,
}

// ByUsername returns a decider that answers a call by its user name's
// first word, the part before its first "-": answers[word](c) when there
// is one, next(c) otherwise (success when next is nil). A token call's
// user name is its token's username claim.
func ByUsername(answers map[string]func(Call) Reply, next func(Call) Reply) func(Call) Reply {
	return func(c Call) Reply {
		word, _, dash := strings.Cut(c.Username, "-")
		if answer, ok := answers[word]; dash && ok {
			return answer(c)
		}
		if next == nil {
			return Reply{}
		}
		return next(c)
	}
}
