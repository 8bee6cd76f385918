//! Answering by replying to the mail, as a department head on a phone
//! would: the head's mail is read from the test SMTP server, the reply is
//! sent over real SMTP (lettre) to tocsin's own listener on loopback, and
//! the incident, its timeline and the answer mail show what happened.

mod support;

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use support::smtp::Received;
use support::{Backend, Options, TestApp, TestDatabase, heads, task};

const WAIT: Duration = Duration::from_secs(20);

/// The first mail to `address` among `mails`.
fn mail_to<'a>(mails: &'a [Received], address: &str) -> &'a Received {
    mails
        .iter()
        .find(|mail| mail.rcpt_to.iter().any(|to| to == address))
        .unwrap_or_else(|| panic!("no mail to {address}"))
}

/// An address header without its angle brackets.
fn bare(value: String) -> String {
    value
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .to_owned()
}

/// A reply to `mail` as a phone's mail client writes it: `text` on top,
/// then the quoted original, threaded by `In-Reply-To`.
fn reply_to(mail: &Received, from: &str, text: &str, headers: &str) -> (String, Vec<u8>) {
    let id = format!("{}@phone.example.net", uuid::Uuid::new_v4());
    let original = mail.header("Message-ID").expect("a Message-ID");
    let to = bare(mail.header("Reply-To").expect("a Reply-To"));
    let raw = format!(
        "From: {from}\r\nTo: {to}\r\nSubject: Re: crisis\r\nMessage-ID: <{id}>\r\n\
         In-Reply-To: {original}\r\nReferences: {original}\r\n\
         Date: Wed, 02 Dec 2026 21:04:00 +0100\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n{headers}\r\n\
         {text}\r\n\r\nOn Wed, 2 Dec 2026, tocsin wrote:\r\n> SKIP all of this\r\n> DONE\r\n"
    );
    (id, raw.into_bytes())
}

/// Replies to `mail` from `from` with `text` and returns the reply's id.
async fn answer(app: &TestApp, mail: &Received, from: &str, text: &str) -> String {
    let (id, raw) = reply_to(mail, from, text, "");
    let to = bare(mail.header("Reply-To").unwrap());
    app.mail_in(Some(from), &to, &raw)
        .await
        .expect("the reply is taken");
    id
}

async fn incident_of(app: &TestApp, id: &str) -> Value {
    let (status, incident) = app
        .get(&format!("/api/v1/incidents/{id}"), &app.legal)
        .await;
    assert_eq!(status, StatusCode::OK);
    incident
}

fn replies(timeline: &[Value]) -> Vec<&Value> {
    timeline
        .iter()
        .filter(|event| event["kind"] == "reply_received")
        .collect()
}

fn department<'a>(incident: &'a Value, id: &str) -> &'a Value {
    incident["departments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|dept| dept["department"] == id)
        .unwrap()
}

on_each_backend! {
    async fn ok_acknowledges_the_department_and_the_answer_is_threaded_under_the_reply(app) {
        let incident = app.trigger("account-hijack", "high").await;
        let id = incident["id"].as_str().unwrap();
        let mails = app.smtp.wait_for(heads(&incident).len(), WAIT).await;
        let mail = mail_to(&mails, "pr-head@example.com");
        let reply_address = bare(mail.header("Reply-To").unwrap());
        assert!(reply_address.starts_with("replies+") && reply_address.ends_with("@reply.example.com"),
            "{reply_address}");
        let key = &reply_address["replies+".len()..reply_address.find('@').unwrap()];
        assert!(mail.header("Message-ID").unwrap().contains(key),
            "the key rides in the Message-ID too, for clients that drop sub-addresses");
        assert!(mail.text().unwrap().contains("replying to this mail"), "the mail says so");

        let reply_id = answer(&app, mail, "pr-head@example.com", "OK, on it").await;

        let incident = incident_of(&app, id).await;
        let pr = department(&incident, "pr");
        assert!(pr["acknowledged_at"].is_string(), "{pr}");
        assert_eq!(pr["acknowledged_by"], "reply:pr-head@example.com");
        let timeline = app.timeline(id).await;
        let reply = replies(&timeline);
        assert_eq!(reply.len(), 1);
        let data = &reply[0]["data"];
        assert_eq!(data["read_as"], "acknowledge");
        assert_eq!(data["acted"], true);
        assert_eq!(data["recipient"], "pr-head@example.com");
        assert_eq!(data["from_matches"], true);
        assert_eq!(data["peer"], "127.0.0.1");
        assert_eq!(data["intake"], "smtp");
        assert_eq!(data["sha256"].as_str().unwrap().len(), 64);

        let mails = app.smtp.wait_for(heads(&incident).len() + 1, WAIT).await;
        let answered = mails.last().unwrap();
        assert_eq!(answered.rcpt_to, ["pr-head@example.com"]);
        assert_eq!(bare(answered.header("In-Reply-To").unwrap()), reply_id);
        assert!(answered.text().unwrap().contains("Acknowledged for your department"),
            "{}", answered.text().unwrap());
        let verified = app.get(&format!("/api/v1/incidents/{id}/timeline/verify"), &app.legal).await;
        assert_eq!(verified.0, StatusCode::OK, "{}", verified.1);
    }

    async fn done_to_an_item_mail_completes_it_with_only_the_new_words_as_its_note(app) {
        let incident = app.trigger("account-hijack", "medium").await;
        let id = incident["id"].as_str().unwrap().to_owned();
        let mut expected = heads(&incident).len();
        app.smtp.wait_for(expected, WAIT).await;
        let assess = task(&incident, "pr/assess-brand-impact")["id"].as_str().unwrap().to_owned();
        let (status, _) = app.post(&format!("/api/v1/incidents/{id}/tasks/{assess}/complete"),
            &app.responder, json!({})).await;
        assert_eq!(status, StatusCode::OK);
        expected += 1;
        let mails = app.smtp.wait_for(expected, WAIT).await;
        let ready = mails.last().unwrap();
        assert!(ready.subject().unwrap().contains("Ready for you"), "{:?}", ready.subject());

        answer(&app, ready, "pr-head@example.com", "FAIT : posté sur X à 21h05").await;

        let incident = incident_of(&app, &id).await;
        let holding = task(&incident, "pr/holding-statement");
        assert_eq!(holding["status"], "done", "{holding}");
        assert_eq!(holding["note"], "posté sur X à 21h05", "no quoted history in the note");
        app.settle().await;
        let mails = app.smtp.received();
        let answered = mails.iter()
            .find(|mail| mail.subject().unwrap().contains("Your reply"))
            .expect("an answer to the reply");
        assert_eq!(answered.rcpt_to, ["pr-head@example.com"]);
        assert!(answered.text().unwrap().contains("Marked the item done"));
    }

    async fn an_auto_reply_acts_on_nothing_and_gets_no_answer(app) {
        let incident = app.trigger("account-hijack", "high").await;
        let id = incident["id"].as_str().unwrap();
        let sent = heads(&incident).len();
        let mails = app.smtp.wait_for(sent, WAIT).await;
        let mail = mail_to(&mails, "pr-head@example.com");
        let (_, raw) = reply_to(mail, "pr-head@example.com", "OK",
            "Auto-Submitted: auto-replied\r\nSubject: Automatic reply: crisis\r\n");
        let to = bare(mail.header("Reply-To").unwrap());
        app.mail_in(Some("pr-head@example.com"), &to, &raw).await.expect("taken");

        let incident = incident_of(&app, id).await;
        assert!(department(&incident, "pr")["acknowledged_at"].is_null());
        let timeline = app.timeline(id).await;
        let reply = replies(&timeline);
        assert_eq!(reply.len(), 1, "recorded, as evidence");
        assert_eq!(reply[0]["data"]["acted"], false);
        assert_eq!(reply[0]["data"]["read_as"], "out_of_office");
        app.settle().await;
        assert_eq!(app.smtp.received().len(), sent, "no answer to a machine");
    }

    async fn unknown_keys_and_other_addresses_are_refused_before_the_data(app) {
        let incident = app.trigger("account-hijack", "high").await;
        let mails = app.smtp.wait_for(heads(&incident).len(), WAIT).await;
        let mail = mail_to(&mails, "pr-head@example.com");
        let (_, raw) = reply_to(mail, "pr-head@example.com", "OK", "");
        for to in [
            "replies+AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA@reply.example.com",
            "someone@reply.example.com",
            "replies+x@elsewhere.example",
        ] {
            let refused = app.mail_in(Some("pr-head@example.com"), to, &raw).await
                .expect_err("refused");
            assert!(refused.is_permanent(), "{to}: {refused}");
            assert!(refused.to_string().contains("no such reply address"), "{refused}");
        }
        let id = incident["id"].as_str().unwrap();
        assert!(replies(&app.timeline(id).await).is_empty());
    }

    async fn the_same_message_twice_acts_once(app) {
        let incident = app.trigger("account-hijack", "high").await;
        let id = incident["id"].as_str().unwrap();
        let mails = app.smtp.wait_for(heads(&incident).len(), WAIT).await;
        let mail = mail_to(&mails, "pr-head@example.com");
        let (_, raw) = reply_to(mail, "pr-head@example.com", "Journalists are calling", "");
        let to = bare(mail.header("Reply-To").unwrap());
        let first = app.mail_in(Some("pr-head@example.com"), &to, &raw).await.unwrap();
        let again = app.mail_in(Some("pr-head@example.com"), &to, &raw).await.unwrap();
        assert!(first.contains("recorded") && again.contains("already recorded"), "{first} / {again}");
        let timeline = app.timeline(id).await;
        assert_eq!(replies(&timeline).len(), 1);
        let notes: Vec<&Value> = timeline.iter().filter(|e| e["kind"] == "note_added").collect();
        assert_eq!(notes.len(), 1, "words that are no command are a note, once");
        assert_eq!(notes[0]["data"]["text"], "Journalists are calling");
    }

    async fn away_sends_the_chase_to_the_deputies_now(app) {
        let incident = app.trigger("account-hijack", "high").await;
        let id = incident["id"].as_str().unwrap();
        let sent = heads(&incident).len();
        let mails = app.smtp.wait_for(sent, WAIT).await;
        let pr = department(&incident, "pr");
        let deputies: Vec<String> = pr["deputies"].as_array().unwrap().iter()
            .map(|d| d["email"].as_str().unwrap().to_owned()).collect();
        assert!(!deputies.is_empty());
        answer(&app, mail_to(&mails, "pr-head@example.com"), "pr-head@example.com",
            "ABSENT, en avion jusqu'à 23h").await;

        let mails = app.smtp.wait_for(sent + deputies.len() + 1, WAIT).await;
        for deputy in &deputies {
            let escalation = mail_to(&mails, deputy);
            assert!(escalation.subject().unwrap().contains("Escalation"), "{:?}", escalation.subject());
        }
        let timeline = app.timeline(id).await;
        let chased = timeline.iter().find(|e| e["kind"] == "chased").expect("a chase step");
        assert_eq!(chased["data"]["stage"], 1);
        assert!(department(&incident_of(&app, id).await, "pr")["acknowledged_at"].is_null(),
            "away is no acknowledgement");
    }

    async fn a_reply_to_the_bare_address_finds_its_key_in_in_reply_to(app) {
        // A relay, or a mailbox on a service without sub-addressing
        // (Exchange, Microsoft 365), delivers to the reply address itself.
        let incident = app.trigger("account-hijack", "high").await;
        let id = incident["id"].as_str().unwrap();
        let mails = app.smtp.wait_for(heads(&incident).len(), WAIT).await;
        let (_, raw) = reply_to(mail_to(&mails, "pr-head@example.com"), "pr-head@example.com", "REÇU", "");
        app.mail_in(Some("pr-head@example.com"), support::REPLY_ADDRESS, &raw).await
            .expect("taken by its In-Reply-To");
        let incident = incident_of(&app, id).await;
        assert_eq!(department(&incident, "pr")["acknowledged_by"], "reply:pr-head@example.com");

        let stray = b"From: someone@example.net\r\nTo: replies@reply.example.com\r\n\
            Subject: hello\r\nMessage-ID: <stray@example.net>\r\n\r\nOK\r\n";
        let refused = app.mail_in(Some("someone@example.net"), support::REPLY_ADDRESS, stray).await
            .expect_err("no key anywhere");
        assert!(refused.to_string().contains("answers no mail tocsin sent"), "{refused}");
    }

    async fn a_forwarded_mail_acts_and_the_chain_shows_who_answered(app) {
        let incident = app.trigger("account-hijack", "high").await;
        let id = incident["id"].as_str().unwrap();
        let mails = app.smtp.wait_for(heads(&incident).len(), WAIT).await;
        answer(&app, mail_to(&mails, "pr-head@example.com"), "assistant@example.com", "ok").await;
        let incident = incident_of(&app, id).await;
        assert_eq!(department(&incident, "pr")["acknowledged_by"], "reply:assistant@example.com");
        let timeline = app.timeline(id).await;
        let data = &replies(&timeline)[0]["data"];
        assert_eq!(data["recipient"], "pr-head@example.com");
        assert_eq!(data["from"], "assistant@example.com");
        assert_eq!(data["from_matches"], false);
    }

    async fn a_bounce_marks_the_message_it_returns(app) {
        let incident = app.trigger("account-hijack", "high").await;
        let id = incident["id"].as_str().unwrap();
        let mails = app.smtp.wait_for(heads(&incident).len(), WAIT).await;
        let mail = mail_to(&mails, "pr-head@example.com");
        let original = mail.header("Message-ID").unwrap();
        let to = bare(mail.header("Reply-To").unwrap());
        let raw = format!(
            "From: Mail Delivery System <MAILER-DAEMON@mx.example.com>\r\nTo: {to}\r\n\
             Subject: Undelivered Mail Returned to Sender\r\nMessage-ID: <dsn-1@mx.example.com>\r\n\
             Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n\
             Content-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\r\n\r\n\
             --b\r\nContent-Type: text/plain\r\n\r\nThe mail could not be delivered.\r\n\
             --b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.com\r\n\r\n\
             Final-Recipient: rfc822; pr-head@example.com\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n\
             --b\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: {original}\r\n\
             To: pr-head@example.com\r\n\r\n--b--\r\n"
        );
        app.mail_in(None, &to, raw.as_bytes()).await.expect("taken");

        let incident = incident_of(&app, id).await;
        let bounced: Vec<&Value> = incident["messages"].as_array().unwrap().iter()
            .filter(|m| m["bounced_at"].is_string()).collect();
        assert_eq!(bounced.len(), 1, "{:#?}", incident["messages"]);
        assert_eq!(bounced[0]["recipient"], "pr-head@example.com");
        assert!(department(&incident, "pr")["acknowledged_at"].is_null());
        let timeline = app.timeline(id).await;
        assert_eq!(replies(&timeline)[0]["data"]["read_as"], "bounce");
        assert_eq!(replies(&timeline)[0]["data"]["bounced"], "pr-head@example.com");

        // The commander sees, on the incident's page, whom nobody reached.
        let user = app.staff
            .add_user("commander@example.com", tocsin::auth::Role::Responder,
                &tocsin::domain::Actor::operator("test"))
            .await.unwrap();
        let link = app.staff.sign_in_link(&user).await.unwrap();
        let (session, _) = app.staff.sign_in(link.rsplit('/').next().unwrap())
            .await.unwrap().unwrap();
        let page = app.client.get(app.url(&format!("/incidents/{id}")))
            .header("cookie", format!("tocsin_session={session}"))
            .send().await.unwrap().text().await.unwrap();
        let undelivered = &page[page.find("id=\"undelivered\"").expect("the undelivered box")..];
        assert!(undelivered[..undelivered.find("</div>").unwrap()].contains("pr-head@example.com (pr)"),
            "{undelivered}");
    }
}

with_each_backend!(a_reply_after_the_links_expired_is_told_the_incident_is_closed);

async fn a_reply_after_the_links_expired_is_told_the_incident_is_closed(backend: Backend) {
    let database = TestDatabase::create(&backend).await;
    let options = Options {
        adjust: Box::new(|settings| settings.link_grace = chrono::Duration::zero()),
        ..Options::default()
    };
    let app = TestApp::spawn_with(database, options).await;
    let incident = app.trigger("complaint-surge", "low").await;
    let id = incident["id"].as_str().unwrap();
    let mails = app.smtp.wait_for(heads(&incident).len(), WAIT).await;
    let head = heads(&incident)[0].clone();
    let mail = mail_to(&mails, &head).clone();
    let (status, _) = app
        .post(
            &format!("/api/v1/incidents/{id}/resolve"),
            &app.responder,
            json!({"force": true, "reason": "done"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let resolved = app
        .smtp
        .wait_for(heads(&incident).len() * 2 + 1, WAIT)
        .await
        .len();
    tokio::time::sleep(Duration::from_millis(5)).await;

    answer(&app, &mail, &head, "OK").await;

    let mails = app.smtp.wait_for(resolved + 1, WAIT).await;
    let closed = mails.last().unwrap();
    assert_eq!(closed.rcpt_to, std::slice::from_ref(&head));
    assert!(
        closed.text().unwrap().contains("was closed"),
        "{}",
        closed.text().unwrap()
    );
    let incident = incident_of(&app, id).await;
    let answered = incident["departments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|dept| dept["head"]["email"] == head.as_str())
        .unwrap();
    assert!(answered["acknowledged_at"].is_null());
    app.stop().await;
}

with_each_backend!(a_reply_over_starttls_acts);

/// With a certificate configured, the listener offers STARTTLS, and a
/// relay that insists on it (as Microsoft 365's connectors can) delivers.
async fn a_reply_over_starttls_acts(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let certified = rcgen::generate_simple_self_signed(vec!["reply.example.com".into()]).unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, certified.cert.pem()).unwrap();
    std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();
    let options = Options {
        adjust: Box::new(move |settings| settings.inbound_tls = Some((cert, key))),
        ..Options::default()
    };
    let app = TestApp::spawn_with(TestDatabase::create(&backend).await, options).await;
    let incident = app.trigger("account-hijack", "high").await;
    let id = incident["id"].as_str().unwrap();
    let mails = app.smtp.wait_for(heads(&incident).len(), WAIT).await;
    let mail = mail_to(&mails, "pr-head@example.com");
    let (_, raw) = reply_to(mail, "pr-head@example.com", "OK", "");
    let to = bare(mail.header("Reply-To").unwrap());

    use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
    use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
    let tls = TlsParameters::builder("reply.example.com".into())
        .add_root_certificate(Certificate::from_pem(certified.cert.pem().as_bytes()).unwrap())
        .build_rustls()
        .unwrap();
    let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
        .port(app.inbound_smtp.unwrap().port())
        .tls(Tls::Required(tls))
        .build();
    let envelope = lettre::address::Envelope::new(
        Some("pr-head@example.com".parse::<Address>().unwrap()),
        vec![to.parse::<Address>().unwrap()],
    )
    .unwrap();
    transport
        .send_raw(&envelope, &raw)
        .await
        .expect("taken over TLS");

    let incident = incident_of(&app, id).await;
    assert_eq!(
        department(&incident, "pr")["acknowledged_by"],
        "reply:pr-head@example.com"
    );
    app.stop().await;
}

with_each_backend!(an_ok_by_reply_stops_the_chase_where_silence_is_chased);

/// On the test clock: the head who replied OK hears no reminder, while a
/// department that stayed silent is chased as usual.
async fn an_ok_by_reply_stops_the_chase_where_silence_is_chased(backend: Backend) {
    let clock = support::ManualClock::starting_now();
    let options = Options {
        clock: Some(std::sync::Arc::clone(&clock)),
        ..Options::default()
    };
    let app = TestApp::spawn_with(TestDatabase::create(&backend).await, options).await;
    let incident = app.trigger("account-hijack", "high").await;
    let id = incident["id"].as_str().unwrap();
    let sent = heads(&incident).len();
    let mails = app.smtp.wait_for(sent, WAIT).await;
    answer(
        &app,
        mail_to(&mails, "pr-head@example.com"),
        "pr-head@example.com",
        "OK",
    )
    .await;
    app.settle().await;

    clock.advance(chrono::Duration::hours(1));
    app.engine.chase(1000).await.unwrap();
    app.settle().await;

    let later: Vec<Received> = app.smtp.received().into_iter().skip(sent).collect();
    let reminded = |address: &str| {
        later.iter().any(|mail| {
            mail.rcpt_to.iter().any(|to| to == address)
                && mail.subject().unwrap().contains("has not acknowledged")
        })
    };
    assert!(reminded("legal-head@example.com"), "silence is chased");
    assert!(
        !reminded("pr-head@example.com"),
        "an OK by reply stops the chase"
    );
    let timeline = app.timeline(id).await;
    assert!(
        timeline
            .iter()
            .any(|e| e["kind"] == "chased" && e["data"]["department"] == "legal")
    );
    assert!(!timeline.iter().any(|e| e["kind"] == "chased"
        && e["data"]["department"] == "pr"
        && e["data"]["purpose"] == "acknowledge"));
    app.stop().await;
}

on_each_backend! {
    async fn a_hostile_client_gets_errors_and_the_listener_keeps_serving(app) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = app.inbound_smtp.unwrap();
        let hostile: Vec<Vec<u8>> = vec![
            b"DATA\r\n".to_vec(),
            b"RCPT TO:<replies+x@reply.example.com>\r\n".to_vec(),
            b"MAIL FROM:<>\r\nRCPT TO:<nobody@example.com>\r\nDATA\r\n".to_vec(),
            b"STARTTLS\r\n".to_vec(),
            b"EHLO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<\xff\xfe@reply.example.com>\r\n".to_vec(),
            [b"EHLO ".as_slice(), &vec![b'x'; 70_000], b"\r\n"].concat(),
            (0..=255u8).collect(),
            b"\r\n\r\n.\r\nQUIT\r\n".to_vec(),
        ];
        for bytes in hostile {
            let mut stream = tokio::net::TcpStream::connect(listener).await.unwrap();
            stream.write_all(&bytes).await.unwrap();
            let _ = stream.shutdown().await;
            let mut answer = Vec::new();
            let read = tokio::time::timeout(WAIT, stream.read_to_end(&mut answer)).await;
            assert!(read.is_ok(), "the listener answers and closes");
            let answer = String::from_utf8_lossy(&answer);
            assert!(answer.starts_with("220 "), "{answer}");
            assert!(!answer.contains("250 2.0.0 recorded"), "{answer}");
        }
        // Still serving, and nothing was recorded.
        let incident = app.trigger("account-hijack", "high").await;
        let id = incident["id"].as_str().unwrap();
        let mails = app.smtp.wait_for(heads(&incident).len(), WAIT).await;
        answer(&app, mail_to(&mails, "pr-head@example.com"), "pr-head@example.com", "OK").await;
        assert_eq!(replies(&app.timeline(id).await).len(), 1);
    }
}
