import CCurl

/// One blocking HTTP POST of JSON through libcurl's easy interface (the Home Assistant transport,
/// stage 2's OpenAI-compatible backend). Call it from a thread that may block (not from Swift's
/// cooperative pool): it returns when the answer is in or after `timeout` seconds.
public enum HTTPExchange {
    public struct Response: Sendable {
        public let status: Int
        /// The start of the body, at most `bodyLimit` bytes.
        public let body: [UInt8]
    }

    /// POSTs `json` to `url`, with a bearer token when there is one. A status other than 2xx is a
    /// response, not an error; failing to get any answer (no connection, timeout, TLS) is a
    /// `DeviceError` naming `service` (what should be answering, as the user knows it), `what`, and
    /// the settings that hold the URL and the timeout (`settings.url`, `settings.timeout`).
    public static func post(url: String, json: String, bearer token: String?, timeout: Double, bodyLimit: Int,
                            service: String, settings: (url: String, timeout: String), what: String) throws(DeviceError) -> Response {
        // Declared before the handle so they outlive it (defers run in reverse).
        var headers: UnsafeMutablePointer<curl_slist>?
        defer { curl_slist_free_all(headers) }
        let authorization = token.map { ["Authorization: Bearer \($0)"] } ?? []
        for header in authorization + ["Content-Type: application/json", "Accept: application/json"] {
            guard let list = curl_slist_append(headers, header) else {
                throw DeviceError(.transport, "\(what): libcurl cannot build the request headers (out of memory?)")
            }
            headers = list
        }
        let errorBuffer = UnsafeMutablePointer<CChar>.allocate(capacity: Int(CURL_ERROR_SIZE))
        errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE))
        defer { errorBuffer.deallocate() }
        let sink = BodySink(limit: bodyLimit)
        let sinkPointer = Unmanaged.passUnretained(sink).toOpaque()

        guard let handle = curl_easy_init() else {
            throw DeviceError(.transport, "\(what): libcurl cannot make a request handle (out of memory?)")
        }
        defer { curl_easy_cleanup(handle) }
        let milliseconds = max(1, Int((timeout * 1000).rounded()))

        func set(_ option: CURLoption, _ code: CURLcode) throws(DeviceError) {
            guard code == CURLE_OK else {
                throw DeviceError(.transport, "\(what): libcurl refused option \(option.rawValue)", cause: String(cString: curl_easy_strerror(code)))
            }
        }
        // No signals from libcurl: it runs on a thread among others (required for multi-threaded use).
        try set(CURLOPT_NOSIGNAL, hark_curl_setopt_long(handle, CURLOPT_NOSIGNAL, 1))
        try set(CURLOPT_URL, hark_curl_setopt_ptr(handle, CURLOPT_URL, url))
        try set(CURLOPT_POST, hark_curl_setopt_long(handle, CURLOPT_POST, 1))
        try set(CURLOPT_POSTFIELDSIZE, hark_curl_setopt_long(handle, CURLOPT_POSTFIELDSIZE, json.utf8.count))
        try set(CURLOPT_COPYPOSTFIELDS, hark_curl_setopt_ptr(handle, CURLOPT_COPYPOSTFIELDS, json))
        try set(CURLOPT_HTTPHEADER, hark_curl_setopt_ptr(handle, CURLOPT_HTTPHEADER, headers))
        try set(CURLOPT_CONNECTTIMEOUT_MS, hark_curl_setopt_long(handle, CURLOPT_CONNECTTIMEOUT_MS, milliseconds))
        try set(CURLOPT_TIMEOUT_MS, hark_curl_setopt_long(handle, CURLOPT_TIMEOUT_MS, milliseconds))
        // The token goes to the configured host and nowhere else: no redirects, no proxy from the environment.
        try set(CURLOPT_FOLLOWLOCATION, hark_curl_setopt_long(handle, CURLOPT_FOLLOWLOCATION, 0))
        try set(CURLOPT_PROXY, hark_curl_setopt_ptr(handle, CURLOPT_PROXY, ""))
        // libcurl 7.85 and later; the URL is already checked to be http(s) where this is missing.
        _ = hark_curl_setopt_ptr(handle, CURLOPT_PROTOCOLS_STR, "http,https")
        try set(CURLOPT_USERAGENT, hark_curl_setopt_ptr(handle, CURLOPT_USERAGENT, "hark"))
        try set(CURLOPT_ERRORBUFFER, hark_curl_setopt_ptr(handle, CURLOPT_ERRORBUFFER, errorBuffer))
        try set(CURLOPT_WRITEDATA, hark_curl_setopt_ptr(handle, CURLOPT_WRITEDATA, sinkPointer))
        try set(CURLOPT_WRITEFUNCTION, hark_curl_setopt_write(handle) { data, size, count, user in
            let bytes = size * count
            let sink = Unmanaged<BodySink>.fromOpaque(user!).takeUnretainedValue()
            let room = sink.limit - sink.bytes.count
            if room > 0, let data {
                data.withMemoryRebound(to: UInt8.self, capacity: bytes) { sink.bytes.append(contentsOf: UnsafeBufferPointer(start: $0, count: min(bytes, room))) }
            }
            // Everything is accepted (and the excess dropped): a smaller count would abort the transfer.
            return bytes
        })

        let code = withExtendedLifetime(sink) { curl_easy_perform(handle) }
        guard code == CURLE_OK else {
            let detail = errorBuffer.pointee != 0 ? String(cString: errorBuffer) : String(cString: curl_easy_strerror(code))
            let seconds = JSONValue.formatNumber(timeout)
            switch code {
            case CURLE_OPERATION_TIMEDOUT:
                throw DeviceError(.transport, "\(what): \(service) did not answer POST \(url) within \(seconds) s; is it running and reachable? (raise \(settings.timeout) if it is slow)", cause: detail)
            case CURLE_COULDNT_CONNECT, CURLE_COULDNT_RESOLVE_HOST:
                throw DeviceError(.transport, "\(what): cannot reach \(service) for POST \(url); check \(settings.url) and that \(service) is running", cause: detail)
            default:
                throw DeviceError(.transport, "\(what): POST \(url) failed before an answer came", cause: detail)
            }
        }
        var status = 0
        let info = hark_curl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status)
        guard info == CURLE_OK else {
            throw DeviceError(.transport, "\(what): POST \(url) got an answer whose status libcurl cannot give", cause: String(cString: curl_easy_strerror(info)))
        }
        return Response(status: status, body: sink.bytes)
    }

    /// Collects the response body; used by one transfer on one thread.
    private final class BodySink {
        let limit: Int
        var bytes: [UInt8] = []
        init(limit: Int) { self.limit = limit }
    }
}
