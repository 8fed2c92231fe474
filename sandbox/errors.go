package sandbox

import (
	"encoding/json"
	"fmt"
	"net/http"
)

// apiError is an error answered in Google's JSON error shape:
//
//	{"error":{"code":404,"message":"...","errors":[{"message":"...","domain":"global","reason":"notFound"}],"status":"NOT_FOUND"}}
type apiError struct {
	code    int
	message string
	reason  string // errors[0].reason; no errors array when empty
	domain  string // errors[0].domain; "global" when empty
	details []any
	header  http.Header
}

func (e *apiError) Error() string {
	return fmt.Sprintf("%d %s: %s", e.code, statusName(e.code), e.message)
}

type errorItem struct {
	Message      string `json:"message"`
	Domain       string `json:"domain"`
	Reason       string `json:"reason"`
	ExtendedHelp string `json:"extendedHelp,omitempty"`
}

type errorBody struct {
	Code    int         `json:"code"`
	Message string      `json:"message"`
	Errors  []errorItem `json:"errors,omitempty"`
	Status  string      `json:"status"`
	Details []any       `json:"details,omitempty"`
}

func (e *apiError) body() map[string]errorBody {
	b := errorBody{Code: e.code, Message: e.message, Status: statusName(e.code), Details: e.details}
	if e.reason != "" {
		domain := e.domain
		if domain == "" {
			domain = "global"
		}
		b.Errors = []errorItem{{Message: e.message, Domain: domain, Reason: e.reason}}
	}
	return map[string]errorBody{"error": b}
}

// statusName is the google.rpc.Code name Google pairs with an HTTP status.
func statusName(code int) string {
	switch code {
	case http.StatusBadRequest:
		return "INVALID_ARGUMENT"
	case http.StatusUnauthorized:
		return "UNAUTHENTICATED"
	case http.StatusForbidden:
		return "PERMISSION_DENIED"
	case http.StatusNotFound:
		return "NOT_FOUND"
	case http.StatusConflict:
		return "ABORTED"
	case http.StatusPreconditionFailed:
		return "FAILED_PRECONDITION"
	case http.StatusTooManyRequests:
		return "RESOURCE_EXHAUSTED"
	case http.StatusNotImplemented:
		return "UNIMPLEMENTED"
	case http.StatusServiceUnavailable, http.StatusBadGateway:
		return "UNAVAILABLE"
	case http.StatusGatewayTimeout:
		return "DEADLINE_EXCEEDED"
	default:
		if code >= 500 {
			return "INTERNAL"
		}
		return "UNKNOWN"
	}
}

// errStatus builds an error without an errors array, as the newer APIs answer.
func errStatus(code int, message string) *apiError {
	return &apiError{code: code, message: message}
}

func errNotFound(message string) *apiError {
	return &apiError{code: http.StatusNotFound, message: message, reason: "notFound"}
}

func errInvalid(message string) *apiError {
	return &apiError{code: http.StatusBadRequest, message: message, reason: "invalid"}
}

func errBadRequest(message string) *apiError {
	return &apiError{code: http.StatusBadRequest, message: message, reason: "badRequest"}
}

// errComputeNotFound is compute's answer for a resource that does not exist.
func errComputeNotFound(resource string) *apiError {
	return errNotFound(fmt.Sprintf("The resource '%s' was not found", resource))
}

// errCallerDenied is resource manager's answer for a resource that does not exist or
// whose policy the caller may not read; Google does not tell the two apart.
func errCallerDenied() *apiError {
	return &apiError{code: http.StatusForbidden, message: "The caller does not have permission", reason: "forbidden"}
}

func errPermission(permission string) *apiError {
	return &apiError{
		code:    http.StatusForbidden,
		message: fmt.Sprintf("Permission '%s' denied on resource (or it may not exist).", permission),
		reason:  "forbidden",
	}
}

// errServiceDisabled is what Google answers when the API is disabled in the project.
func errServiceDisabled(api, consumer string) *apiError {
	msg := fmt.Sprintf("%s has not been used in project %s before or it is disabled. "+
		"Enable it by visiting https://console.developers.google.com/apis/api/%s/overview?project=%s then retry. "+
		"If you enabled this API recently, wait a few minutes for the action to propagate to our systems and retry.",
		apiTitle(api), consumer, api, consumer)
	return &apiError{
		code:    http.StatusForbidden,
		message: msg,
		reason:  "accessNotConfigured",
		domain:  "usageLimits",
		details: []any{map[string]any{
			"@type":  "type.googleapis.com/google.rpc.ErrorInfo",
			"reason": "SERVICE_DISABLED",
			"domain": "googleapis.com",
			"metadata": map[string]string{
				"consumer": "projects/" + consumer,
				"service":  api,
			},
		}},
	}
}

func apiTitle(api string) string {
	switch api {
	case apiCompute:
		return "Compute Engine API"
	case apiIAM:
		return "Identity and Access Management (IAM) API"
	case apiResourceManager:
		return "Cloud Resource Manager API"
	}
	return api
}

// errFault is the answer of an injected failure with the given HTTP status.
func errFault(code int) *apiError {
	switch code {
	case http.StatusTooManyRequests:
		return &apiError{code: code, reason: "rateLimitExceeded",
			message: "Quota exceeded for quota metric 'Queries' and limit 'Queries per minute' of the service (injected by the zerodrift sandbox)."}
	case http.StatusServiceUnavailable:
		return &apiError{code: code, reason: "backendError",
			message: "The service is currently unavailable."}
	case http.StatusInternalServerError:
		return &apiError{code: code, reason: "backendError", message: "Internal error encountered."}
	case http.StatusForbidden:
		return &apiError{code: code, reason: "rateLimitExceeded", message: "Rate Limit Exceeded"}
	default:
		return &apiError{code: code, reason: "backendError",
			message: fmt.Sprintf("Injected failure: %s.", http.StatusText(code))}
	}
}

// writeJSON writes v as the JSON body of a response with the given status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b, _ = json.Marshal((&apiError{code: status, message: "encoding response: " + err.Error()}).body())
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func writeError(w http.ResponseWriter, e *apiError) {
	for k, vs := range e.header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	writeJSON(w, e.code, e.body())
}
