package vdxpclient;

import com.google.gson.Gson;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.text.SimpleDateFormat;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Date;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TimeZone;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;
import org.apache.http.client.methods.CloseableHttpResponse;
import org.apache.http.client.methods.HttpGet;
import org.apache.http.client.methods.HttpPost;
import org.apache.http.client.methods.HttpRequestBase;
import org.apache.http.entity.ByteArrayEntity;
import org.apache.http.impl.client.CloseableHttpClient;
import org.apache.http.impl.client.HttpClients;
import org.apache.http.util.EntityUtils;

/**
 * One VDXP operation against an endpoint, authenticated as the VDXP SDK does it: every
 * parameter X travels as header "XroadVnpt-X", their JSON object as "XroadVnpt-sign-header",
 * their names as "XroadVnpt-sign-header-key", and the hex HMAC-SHA256 of that JSON under the
 * secret as "XroadVnpt-hash-header".
 *
 * <pre>
 * VdxpClient ENDPOINT SYSTEMID SECRET OPERATION PARAMS_JSON [--file F] [--out F] [--get]
 *            [--skew-seconds N] [--bad-hmac] [--twice]
 * </pre>
 *
 * Prints one line per request sent: {"http": status, "reply": the JSON answer}. With --out,
 * getEdoc's base64 "data" (or downloadEdoc's body) is written to that file as bytes.
 */
public final class VdxpClient {
    private static final Gson GSON = new Gson();
    private static final String PREFIX = "XroadVnpt-";

    public static void main(String[] args) throws Exception {
        String endpoint = args[0];
        String systemId = args[1];
        String secret = args[2];
        String operation = args[3];
        JsonObject params = JsonParser.parseString(args[4]).getAsJsonObject();
        Path file = null;
        Path out = null;
        boolean get = false;
        boolean badHmac = false;
        boolean twice = false;
        long skewSeconds = 0;
        for (int i = 5; i < args.length; i++) {
            switch (args[i]) {
                case "--file" -> file = Path.of(args[++i]);
                case "--out" -> out = Path.of(args[++i]);
                case "--get" -> get = true;
                case "--bad-hmac" -> badHmac = true;
                case "--twice" -> twice = true;
                case "--skew-seconds" -> skewSeconds = Long.parseLong(args[++i]);
                default -> throw new IllegalArgumentException("unknown option " + args[i]);
            }
        }

        Map<String, String> headers = new HashMap<>();
        SimpleDateFormat format = new SimpleDateFormat("ddMMyyyy'T'HHmmss+SSSS");
        format.setTimeZone(TimeZone.getTimeZone("Asia/Ho_Chi_Minh"));
        headers.put("timestamp", format.format(new Date(System.currentTimeMillis() - skewSeconds * 1000)));
        headers.put("systemid", systemId);
        byte[] body = null;
        if (file != null) {
            body = Files.readAllBytes(file);
            headers.put("Content-Type", "application/octet-stream");
            headers.put("hash-file", sdkHex(MessageDigest.getInstance("SHA-256").digest(body)));
        } else {
            headers.put("Content-Type", "application/json");
        }
        for (Map.Entry<String, JsonElement> entry : params.entrySet()) {
            JsonElement value = entry.getValue();
            // "to" is a JSON array, sent as its JSON text; everything else as a string.
            headers.put(entry.getKey(), value.isJsonPrimitive() ? value.getAsString() : value.toString());
        }

        JsonObject signed = new JsonObject();
        List<String> names = new ArrayList<>();
        for (Map.Entry<String, String> header : headers.entrySet()) {
            signed.addProperty(PREFIX + header.getKey(), header.getValue());
            names.add(header.getKey());
        }
        String signHeader = signed.toString();
        Mac mac = Mac.getInstance("HmacSHA256");
        mac.init(new SecretKeySpec(secret.getBytes(StandardCharsets.UTF_8), "HmacSHA256"));
        String hash = hex(mac.doFinal(signHeader.getBytes(StandardCharsets.UTF_8)));
        if (badHmac) {
            hash = (hash.charAt(0) == '0' ? "1" : "0") + hash.substring(1);
        }

        try (CloseableHttpClient http = HttpClients.createDefault()) {
            for (int round = 0; round < (twice ? 2 : 1); round++) {
                String url = endpoint + "/" + operation;
                HttpRequestBase request = get ? new HttpGet(url) : new HttpPost(url);
                for (Map.Entry<String, String> header : headers.entrySet()) {
                    request.addHeader(PREFIX + header.getKey(), header.getValue());
                }
                request.addHeader("Content-Type", headers.get("Content-Type"));
                request.addHeader(PREFIX + "sign-header-key", String.join(";", names));
                request.addHeader(PREFIX + "sign-header", signHeader);
                request.addHeader(PREFIX + "hash-header", hash);
                request.addHeader("User-Agent", "edoc-axis-tests VdxpClient");
                if (body != null) {
                    ((HttpPost) request).setEntity(new ByteArrayEntity(body));
                }
                try (CloseableHttpResponse response = http.execute(request)) {
                    byte[] answer = EntityUtils.toByteArray(response.getEntity());
                    report(response.getStatusLine().getStatusCode(), answer, operation, out);
                }
            }
        }
    }

    private static void report(int status, byte[] answer, String operation, Path out) throws Exception {
        JsonObject line = new JsonObject();
        line.addProperty("http", status);
        if (operation.equals("downloadEdoc") && status == 200) {
            Files.write(out, answer);
            line.addProperty("bytes", answer.length);
        } else {
            JsonObject reply = JsonParser.parseString(new String(answer, StandardCharsets.UTF_8)).getAsJsonObject();
            if (out != null && "0".equals(reply.get("ErrorCode").getAsString()) && reply.has("data")) {
                byte[] data = Base64.getDecoder().decode(reply.get("data").getAsString());
                Files.write(out, data);
                reply.addProperty("data", "<" + data.length + " bytes written>");
            }
            line.add("reply", reply);
        }
        System.out.println(GSON.toJson(line));
    }

    private static String hex(byte[] bytes) {
        StringBuilder text = new StringBuilder();
        for (byte b : bytes) {
            text.append(String.format("%02x", b));
        }
        return text.toString();
    }

    /** The SDK's hash-file: each byte in hex without its leading zero. */
    private static String sdkHex(byte[] bytes) {
        StringBuilder text = new StringBuilder();
        for (byte b : bytes) {
            text.append(Integer.toHexString(b & 0xff));
        }
        return text.toString();
    }
}
