package notify

// Mattermost posts each notification to a Mattermost incoming webhook as
// {"text": ...} in Markdown: the level in bold, hosts, metrics and messages
// in code spans, which Mattermost shows literally and which cannot mention
// anyone (see markdownMarkup).
type Mattermost struct{ chatWebhook }

// mattermostTextMax bounds the text (bytes); Mattermost's post limit is
// 16,383 characters.
const mattermostTextMax = 12000

// NewMattermost checks c and returns the channel.
func NewMattermost(c ChatWebhookConfig) (*Mattermost, error) {
	w, err := newChatWebhook("mattermost", c, markdownMarkup(false), mattermostTextMax)
	if err != nil {
		return nil, err
	}
	return &Mattermost{w}, nil
}

var _ Channel = (*Mattermost)(nil)
