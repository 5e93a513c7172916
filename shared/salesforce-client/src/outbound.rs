//! Outbound Message (SOAP notification) parsing and the `<Ack>` response, for the gateway webhook.

use std::collections::BTreeMap;

use quick_xml::Reader;
use quick_xml::events::Event;
use sync_core::{IdError, SalesforceId};

/// The acknowledgement Salesforce needs (HTTP 200) to stop redelivering a message; one ack
/// covers every notification in it.
pub const ACK_RESPONSE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">
  <soapenv:Body>
    <notificationsResponse xmlns="http://soap.sforce.com/2005/09/outbound">
      <Ack>true</Ack>
    </notificationsResponse>
  </soapenv:Body>
</soapenv:Envelope>
"#;

/// Content type of [`ACK_RESPONSE`].
pub const ACK_CONTENT_TYPE: &str = "text/xml; charset=utf-8";

/// A parsed Outbound Message. The `SessionId` is deliberately not kept: it is a live session.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutboundMessage {
    /// Checked by the webhook against the org it expects.
    pub organization_id: String,
    pub action_id: Option<String>,
    pub enterprise_url: Option<String>,
    pub partner_url: Option<String>,
    pub notifications: Vec<OutboundNotification>,
}

/// One `<Notification>`: its id (dedupe key: delivery is at-least-once) and the record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutboundNotification {
    pub id: String,
    /// From `xsi:type`, e.g. `Contact`.
    pub sobject_type: Option<String>,
    pub sobject_id: Option<String>,
    /// The record's other fields as sent (only those the message selects).
    pub fields: BTreeMap<String, String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OutboundError {
    #[error("malformed outbound message xml: {0}")]
    Xml(String),
    #[error("outbound message lacks {0}")]
    Missing(&'static str),
}

impl OutboundMessage {
    /// The sending org's id in its 18-character form (B15), however the message spells it.
    pub fn organization(&self) -> Result<SalesforceId, IdError> {
        SalesforceId::try_from(self.organization_id.as_str())
    }
}

impl OutboundNotification {
    /// The changed record's id in its 18-character form (B15); `None` when the message left it
    /// out.
    pub fn record_id(&self) -> Option<Result<SalesforceId, IdError>> {
        self.sobject_id.as_deref().map(SalesforceId::try_from)
    }

    /// The record's `OwnerId` in its 18-character form (B15), when the message selects it.
    pub fn owner_id(&self) -> Option<Result<SalesforceId, IdError>> {
        self.fields
            .get("OwnerId")
            .map(|id| SalesforceId::try_from(id.as_str()))
    }
}

/// Salesforce sends at most 100 notifications a message; more is not a Salesforce message.
const MAX_NOTIFICATIONS: usize = 100;

fn local(name: &[u8]) -> String {
    String::from_utf8_lossy(name).into_owned()
}

impl OutboundMessage {
    /// Parses the SOAP envelope Salesforce POSTs. Namespace prefixes are ignored; no DTD or
    /// external entity is ever resolved.
    pub fn parse(xml: &str) -> Result<Self, OutboundError> {
        let mut reader = Reader::from_str(xml);
        let mut message = OutboundMessage::default();
        let mut path: Vec<String> = Vec::new();
        let mut text = String::new();
        let mut seen_notifications = false;
        loop {
            let event = reader
                .read_event()
                .map_err(|e| OutboundError::Xml(e.to_string()))?;
            match event {
                Event::Start(e) => {
                    let name = local(e.local_name().as_ref());
                    text.clear();
                    match name.as_str() {
                        "notifications" => seen_notifications = true,
                        "Notification" if path.last().is_some_and(|p| p == "notifications") => {
                            if message.notifications.len() >= MAX_NOTIFICATIONS {
                                return Err(OutboundError::Xml(
                                    "more than 100 notifications".into(),
                                ));
                            }
                            message.notifications.push(OutboundNotification::default());
                        }
                        "sObject" => {
                            let sobject_type = e.attributes().flatten().find_map(|a| {
                                (a.key.local_name().as_ref() == b"type")
                                    .then(|| a.unescape_value().ok())
                                    .flatten()
                                    .map(|v| v.rsplit(':').next().unwrap_or_default().to_owned())
                            });
                            if let Some(n) = message.notifications.last_mut() {
                                n.sobject_type = sobject_type;
                            }
                        }
                        _ => {}
                    }
                    path.push(name);
                }
                Event::Text(t) => {
                    let decoded = t.decode().map_err(|e| OutboundError::Xml(e.to_string()))?;
                    text.push_str(&decoded);
                }
                Event::CData(t) => {
                    let decoded = t.decode().map_err(|e| OutboundError::Xml(e.to_string()))?;
                    text.push_str(&decoded);
                }
                Event::GeneralRef(r) => {
                    let resolved = match r.resolve_char_ref() {
                        Ok(Some(c)) => c.to_string(),
                        Ok(None) => {
                            let name = r.decode().map_err(|e| OutboundError::Xml(e.to_string()))?;
                            quick_xml::escape::unescape(&format!("&{name};"))
                                .map_err(|e| OutboundError::Xml(e.to_string()))?
                                .into_owned()
                        }
                        Err(e) => return Err(OutboundError::Xml(e.to_string())),
                    };
                    text.push_str(&resolved);
                }
                Event::End(_) => {
                    let value = text.trim().to_owned();
                    text.clear();
                    message.assign(&path, value);
                    path.pop();
                }
                Event::Eof => break,
                _ => {}
            }
        }
        if !seen_notifications {
            return Err(OutboundError::Missing("a notifications element"));
        }
        if message.organization_id.is_empty() {
            return Err(OutboundError::Missing("OrganizationId"));
        }
        if message.notifications.iter().any(|n| n.id.is_empty()) {
            return Err(OutboundError::Missing("a Notification Id"));
        }
        Ok(message)
    }

    /// Stores the text of the element that just closed, by where it sits.
    fn assign(&mut self, path: &[String], value: String) {
        let names: Vec<&str> = path.iter().map(String::as_str).collect();
        match names.as_slice() {
            [.., "notifications", "OrganizationId"] => self.organization_id = value,
            [.., "notifications", "ActionId"] => self.action_id = Some(value),
            [.., "notifications", "EnterpriseUrl"] => self.enterprise_url = Some(value),
            [.., "notifications", "PartnerUrl"] => self.partner_url = Some(value),
            [.., "Notification", "Id"] => {
                if let Some(n) = self.notifications.last_mut() {
                    n.id = value;
                }
            }
            [.., "Notification", "sObject", "Id"] => {
                if let Some(n) = self.notifications.last_mut() {
                    n.sobject_id = Some(value);
                }
            }
            [.., "Notification", "sObject", field] => {
                if let Some(n) = self.notifications.last_mut() {
                    n.fields.insert((*field).to_owned(), value);
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const MESSAGE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
 <soapenv:Body>
  <notifications xmlns="http://soap.sforce.com/2005/09/outbound">
   <OrganizationId>00Do0000000xxxxxxx</OrganizationId>
   <ActionId>04ko0000000xxxxxxx</ActionId>
   <SessionId xsi:nil="true"/>
   <EnterpriseUrl>https://nax.salesforce.com/services/Soap/c/30.0/00Do0000xxxxxxx</EnterpriseUrl>
   <PartnerUrl>https://nax.salesforce.com/services/Soap/u/30.0/00Do0000xxxxxxx</PartnerUrl>
   <Notification>
    <Id>04lo0000000xxxxxxx</Id>
    <sObject xsi:type="sf:Contact" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">
     <sf:Id>003o000000xxxxxxxxx</sf:Id>
     <sf:CreatedDate>2014-06-26T00:05:38.000Z</sf:CreatedDate>
     <sf:FirstName>some &amp; &#x41;</sf:FirstName>
     <sf:LastName>dude</sf:LastName>
    </sObject>
   </Notification>
   <Notification>
    <Id>04lo0000000yyyyyyy</Id>
    <sObject xsi:type="sf:Contact" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">
     <sf:Id>003o000000yyyyyyyyy</sf:Id>
    </sObject>
   </Notification>
  </notifications>
 </soapenv:Body>
</soapenv:Envelope>"#;

    #[test]
    fn a_salesforce_outbound_message_parses() {
        let m = OutboundMessage::parse(MESSAGE).unwrap();
        assert_eq!(m.organization_id, "00Do0000000xxxxxxx");
        assert_eq!(m.action_id.as_deref(), Some("04ko0000000xxxxxxx"));
        assert_eq!(m.notifications.len(), 2);
        let n = &m.notifications[0];
        assert_eq!(n.id, "04lo0000000xxxxxxx");
        assert_eq!(n.sobject_type.as_deref(), Some("Contact"));
        assert_eq!(n.sobject_id.as_deref(), Some("003o000000xxxxxxxxx"));
        assert_eq!(n.fields["FirstName"], "some & A");
        assert_eq!(n.fields["LastName"], "dude");
        assert_eq!(
            m.notifications[1].sobject_id.as_deref(),
            Some("003o000000yyyyyyyyy")
        );
    }

    #[test]
    fn ids_of_either_length_come_out_in_the_18_character_form() {
        let xml = MESSAGE
            .replace("00Do0000000xxxxxxx", "00Dxx0000001gPL")
            .replace("003o000000xxxxxxxxx", "003RO0000035WQg")
            .replace(
                "<sf:LastName>dude</sf:LastName>",
                "<sf:LastName>dude</sf:LastName><sf:OwnerId>005xx000001SvbQ</sf:OwnerId>",
            );
        let m = OutboundMessage::parse(&xml).unwrap();
        assert_eq!(m.organization().unwrap().as_str(), "00Dxx0000001gPLEAY");
        let n = &m.notifications[0];
        assert_eq!(
            n.record_id().unwrap().unwrap().as_str(),
            "003RO0000035WQgYAM"
        );
        assert_eq!(
            n.owner_id().unwrap().unwrap().as_str(),
            "005xx000001SvbQAAS"
        );
        // The documentation's placeholder ids are no ids: an error, not a guess.
        assert!(m.notifications[1].record_id().unwrap().is_err());
        assert!(m.notifications[1].owner_id().is_none());
    }

    #[test]
    fn a_message_without_an_organization_is_refused() {
        let xml = MESSAGE.replace("<OrganizationId>00Do0000000xxxxxxx</OrganizationId>", "");
        assert_eq!(
            OutboundMessage::parse(&xml),
            Err(OutboundError::Missing("OrganizationId"))
        );
    }

    #[test]
    fn garbage_is_refused() {
        assert!(OutboundMessage::parse("<a><b></a>").is_err());
        assert_eq!(
            OutboundMessage::parse("<x/>"),
            Err(OutboundError::Missing("a notifications element"))
        );
    }

    #[test]
    fn the_ack_says_true() {
        assert!(ACK_RESPONSE.contains("<Ack>true</Ack>"));
        assert!(ACK_RESPONSE.contains("http://soap.sforce.com/2005/09/outbound"));
    }
}
