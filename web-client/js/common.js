// Shared code for every Majlis page: translations, DOM helpers, REST helper, citizen sessions and the
// WebSocket client that implements docs/protocol.md (commands, rooms with epoch/seq, reconnect).
//
// Rule for the whole client: text that came from a user or from the server is only ever placed with
// textContent / createTextNode / setAttribute, never parsed as HTML.

// ---------------------------------------------------------------------------------------------------------
// i18n
// ---------------------------------------------------------------------------------------------------------

const STRINGS = {
  en: {
    'app.name': 'Majlis',
    'app.tagline': 'Live questions and answers with the Ministry of Housing',
    'lang.switch': 'العربية',
    'lang.switchAria': 'التبديل إلى العربية (Switch to Arabic)',
    'nav.home': 'Home',
    'nav.faq': 'FAQ',
    'nav.skip': 'Skip to content',
    'conn.idle': 'Not connected',
    'conn.connecting': 'Connecting…',
    'conn.open': 'Connected',
    'conn.reconnecting': 'Reconnecting…',
    'conn.closed': 'Disconnected',
    'state.scheduled': 'Upcoming',
    'state.live': 'Live now',
    'state.ended': 'Ended',
    'state.archived': 'Archived',
    'role.citizen': 'citizen',
    'role.moderator': 'moderator',
    'role.agent': 'agent',
    'role.admin': 'administrator',
    loading: 'Loading…',
    anonymous: 'Anonymous',
    unnamed: 'Citizen',
    edit: 'Edit',
    save: 'Save',
    cancel: 'Cancel',
    withdraw: 'Withdraw',
    code: 'Code: {code}',
    starts: 'Starts {time}',
    edited: '(edited)',
    'err.bad_request': 'The request was not accepted. Please check what you entered.',
    'err.unknown_type': 'This action is not supported by the server.',
    'err.too_large': 'That is too long.',
    'err.unauthorized': 'Your session is not valid any more. Please reload the page.',
    'err.forbidden': 'You are not allowed to do this.',
    'err.not_found': 'Not found. It may have been removed.',
    'err.rate_limited': {
      one: 'Too fast. Please wait {n} second and try again.',
      other: 'Too fast. Please wait {n} seconds and try again.',
    },
    'err.conflict': 'This is no longer possible in the current state.',
    'err.unavailable': 'The service is busy. Please try again shortly.',
    'err.internal': 'Something went wrong on our side. Please try again later.',
    'err.disconnected': 'Not connected. Please try again when the connection is back.',
    'err.timeout': 'The server did not answer. Please try again.',
    'err.network': 'Network error. Please check your connection.',
    'err.unknown': 'Unexpected error.',

    // index.html
    'index.title': 'Majlis — Live Q&A',
    'index.broadcasts': 'Live and upcoming sessions',
    'index.none': 'No sessions are scheduled right now.',
    'index.joinHeading': 'Join with a code',
    'index.joinLabel': 'Session code',
    'index.joinSubmit': 'Join',
    'index.joinInvalid': 'Enter the code shown on screen (letters and digits).',
    'index.open': 'Join session',
    'index.faqLink': 'Browse answered questions from past sessions',

    // broadcast.html
    'bc.title': 'Session — Majlis',
    'bc.participants': { one: '{n} participant', other: '{n} participants' },
    'bc.pinned': 'Now answering',
    'bc.askHeading': 'Ask a question',
    'bc.askLabel': 'Your question',
    'bc.askPlaceholder': 'Type your question…',
    'bc.askAnon': 'Ask anonymously',
    'bc.askSubmit': 'Send question',
    'bc.askSending': 'Sending…',
    'bc.askTooLong': 'Your question is too long.',
    'bc.askClosed': 'Questions are closed for this session.',
    'bc.askSentPending': 'Sent. Your question will appear after review.',
    'bc.askSent': 'Your question has been published.',
    'bc.askQueued': 'You are offline; your question will be sent when the connection is back.',
    'bc.nameLabel': 'Your name (optional)',
    'bc.nameHint': 'Shown with your questions unless you ask anonymously. Changing it starts a new session.',
    'bc.questions': 'Questions',
    'bc.sortLabel': 'Sort by',
    'bc.sortTop': 'Top',
    'bc.sortNew': 'Newest',
    'bc.stable': 'Keep the order stable',
    'bc.resort': { one: '{n} new update — re-sort', other: '{n} new updates — re-sort' },
    'bc.noQuestions': 'No questions yet. Be the first to ask!',
    'bc.vote': 'Upvote',
    'bc.voted': 'Voted',
    'bc.voteAria': 'Upvote: {text}',
    'bc.votedAria': 'Voted: {text}',
    'bc.votes': { one: '{n} vote', other: '{n} votes' },
    'bc.answered': 'Answered',
    'bc.noAnswered': 'No answered questions yet.',
    'bc.answeredLive': 'Answered live',
    'bc.answerLabel': 'Answer:',
    'bc.mine': 'My questions',
    'bc.mineNone': 'You have not asked any questions yet.',
    'bc.status.pending': 'Awaiting review',
    'bc.status.approved': 'Published',
    'bc.status.answered': 'Answered',
    'bc.status.hidden': 'Not published',
    'bc.status.withdrawn': 'Withdrawn',
    'bc.status.merged': 'Merged with a similar question',
    'bc.status.sending': 'Sending…',
    'bc.editLabel': 'Edit your question',
    'bc.yours': 'Your question',
    'bc.nowAnswering': 'Now answering',
    'bc.notFound': 'No session was found with this code.',
    'bc.noCode': 'No session code was given.',
    'bc.backHome': 'Back to all sessions',
    'bc.announceNew': 'New question: {text}',
    'bc.announcePinned': 'Now answering: {text}',
    'bc.ended': 'This session has ended. Thank you for taking part.',

    // moderator.html
    'mod.title': 'Moderator console — Majlis',
    'mod.heading': 'Moderator console',
    'mod.tokenHeading': 'Sign in',
    'mod.tokenLabel': 'Staff token',
    'mod.tokenHint': 'Open the link printed by the server, or paste the token here.',
    'mod.tokenSubmit': 'Sign in',
    'mod.signedIn': 'Signed in as {name} ({role})',
    'mod.signOut': 'Sign out',
    'mod.tokenInvalid': 'This token was not accepted.',
    'mod.notStaff': 'This token does not belong to a moderator.',
    'mod.createHeading': 'New broadcast',
    'mod.titleEn': 'Title (English)',
    'mod.titleAr': 'Title (Arabic)',
    'mod.descEn': 'Description (English)',
    'mod.descAr': 'Description (Arabic)',
    'mod.start': 'Starts at',
    'mod.premod': 'Review questions before they are published (pre-moderation)',
    'mod.allowAnon': 'Allow anonymous questions',
    'mod.maxLen': 'Maximum question length (characters)',
    'mod.createSubmit': 'Create broadcast',
    'mod.needTitle': 'Enter a title in at least one language.',
    'mod.created': 'Created broadcast {code}.',
    'mod.listHeading': 'Broadcasts',
    'mod.refresh': 'Refresh',
    'mod.listNone': 'No broadcasts yet.',
    'mod.bcOpen': 'Open',
    'mod.bcLive': 'Go live',
    'mod.bcEnd': 'End',
    'mod.bcArchive': 'Archive',
    'mod.openNone': 'Open a broadcast to moderate it.',
    'mod.questionsHeading': 'Questions',
    'mod.filterLabel': 'Show',
    'mod.filter.pending': 'Pending ({n})',
    'mod.filter.approved': 'Approved ({n})',
    'mod.filter.answered': 'Answered ({n})',
    'mod.filter.hidden': 'Hidden ({n})',
    'mod.filter.all': 'All ({n})',
    'mod.queue': 'Pending review',
    'mod.queueNone': 'Nothing is waiting for review.',
    'mod.others': 'Other questions',
    'mod.othersNone': 'No questions here.',
    'mod.held.premoderation': 'Held: pre-moderation',
    'mod.held.keyword': 'Held: keyword filter',
    'mod.held.muted': 'Held: the author is muted',
    'mod.keywords': 'Matched words: {list}',
    'mod.original': 'Original text: {text}',
    'mod.hiddenReason': 'Hidden because: {text}',
    'mod.mergedInto': 'Merged into #{id}',
    'mod.anonFlag': 'asked anonymously',
    'mod.mutedFlag': 'muted',
    'mod.answerShown': 'Answer: {text}',
    'mod.tagsShown': 'Tags: {list}',
    'mod.status.pending': 'pending',
    'mod.status.approved': 'approved',
    'mod.status.answered': 'answered',
    'mod.status.hidden': 'hidden',
    'mod.status.withdrawn': 'withdrawn',
    'mod.status.merged': 'merged',
    'mod.approve': 'Approve',
    'mod.hide': 'Hide',
    'mod.hideReason': 'Reason for hiding (optional)',
    'mod.hideSubmit': 'Hide question',
    'mod.pin': 'Pin',
    'mod.unpin': 'Unpin',
    'mod.answer': 'Answer',
    'mod.answerLabel': 'Written answer',
    'mod.answerSubmit': 'Publish answer',
    'mod.answerLive': 'Answered live',
    'mod.merge': 'Merge into…',
    'mod.mergeLabel': 'Merge this question into',
    'mod.mergeSubmit': 'Merge',
    'mod.mergeNone': 'There is no other question to merge into.',
    'mod.edit': 'Edit text',
    'mod.editLabel': 'Question text',
    'mod.tags': 'Tags',
    'mod.tagsLabel': 'Tags (separated by commas)',
    'mod.tagsSubmit': 'Save tags',
    'mod.mute': 'Mute author',
    'mod.unmute': 'Unmute author',
    'mod.nowAnswering': 'Now answering:',
    'mod.stats': 'Live statistics',
    'mod.statsCsv': 'Download statistics (CSV)',
    'mod.presenterLink': 'Open presenter view',
    'mod.joinLink': 'Citizen join link:',
    'mod.copy': 'Copy link',
    'mod.copied': 'Copied',
    'mod.votesN': 'Votes: {n}',
    'stats.unique': 'Unique participants',
    'stats.peak': 'Peak participants',
    'stats.current': 'Current participants',
    'stats.asked': 'Asked',
    'stats.approved': 'Approved',
    'stats.answered': 'Answered',
    'stats.hidden': 'Hidden',
    'stats.merged': 'Merged',
    'stats.withdrawn': 'Withdrawn',
    'stats.pending': 'Pending',
    'stats.votes': 'Votes',
    'stats.top': 'Top questions',
    'stats.byTag': 'By tag',
    'stats.noneYet': 'None yet.',
    'stats.updated': 'Updated {time}',

    // presenter.html
    'pres.title': 'Presenter view — Majlis',
    'pres.waiting': 'Waiting for the next question…',
    'pres.scan': 'Scan to ask your question',
    'pres.code': 'Session code',
    'pres.orVisit': 'or open',
    'pres.fullscreen': 'Full screen',
    'pres.qrAlt': 'QR code for joining the session',

    // faq.html
    'faq.title': 'Frequently asked questions — Majlis',
    'faq.heading': 'Frequently asked questions',
    'faq.intro': 'Questions answered during past live sessions.',
    'faq.none': 'No answered questions yet.',
    'faq.live': 'Answered live during the broadcast',
    'faq.search': 'Search the questions',
    'faq.noMatch': 'No questions match your search.',
  },
  ar: {
    'app.name': 'مجلس',
    'app.tagline': 'أسئلة وأجوبة مباشرة مع وزارة الإسكان',
    'lang.switch': 'English',
    'lang.switchAria': 'Switch to English (التبديل إلى الإنجليزية)',
    'nav.home': 'الرئيسية',
    'nav.faq': 'الأسئلة الشائعة',
    'nav.skip': 'انتقل إلى المحتوى',
    'conn.idle': 'غير متصل',
    'conn.connecting': 'جارٍ الاتصال…',
    'conn.open': 'متصل',
    'conn.reconnecting': 'جارٍ إعادة الاتصال…',
    'conn.closed': 'انقطع الاتصال',
    'state.scheduled': 'قادمة',
    'state.live': 'مباشر الآن',
    'state.ended': 'انتهت',
    'state.archived': 'مؤرشفة',
    'role.citizen': 'مواطن',
    'role.moderator': 'مشرف',
    'role.agent': 'موظف',
    'role.admin': 'مدير النظام',
    loading: 'جارٍ التحميل…',
    anonymous: 'مجهول الاسم',
    unnamed: 'مواطن',
    edit: 'تعديل',
    save: 'حفظ',
    cancel: 'إلغاء',
    withdraw: 'سحب السؤال',
    code: 'الرمز: {code}',
    starts: 'تبدأ {time}',
    edited: '(مُعدَّل)',
    'err.bad_request': 'لم يُقبل الطلب. يرجى التحقق مما أدخلته.',
    'err.unknown_type': 'هذا الإجراء غير مدعوم من الخادم.',
    'err.too_large': 'النص طويل جدًا.',
    'err.unauthorized': 'لم تعد جلستك صالحة. يرجى إعادة تحميل الصفحة.',
    'err.forbidden': 'غير مسموح لك بهذا الإجراء.',
    'err.not_found': 'غير موجود. ربما تمت إزالته.',
    'err.rate_limited': {
      zero: 'محاولات سريعة جدًا. يرجى الانتظار {n} ثانية ثم المحاولة مرة أخرى.',
      one: 'محاولات سريعة جدًا. يرجى الانتظار ثانية واحدة ثم المحاولة مرة أخرى.',
      two: 'محاولات سريعة جدًا. يرجى الانتظار ثانيتين ثم المحاولة مرة أخرى.',
      few: 'محاولات سريعة جدًا. يرجى الانتظار {n} ثوانٍ ثم المحاولة مرة أخرى.',
      many: 'محاولات سريعة جدًا. يرجى الانتظار {n} ثانية ثم المحاولة مرة أخرى.',
      other: 'محاولات سريعة جدًا. يرجى الانتظار {n} ثانية ثم المحاولة مرة أخرى.',
    },
    'err.conflict': 'لم يعد هذا ممكنًا في الحالة الحالية.',
    'err.unavailable': 'الخدمة مشغولة. يرجى المحاولة بعد قليل.',
    'err.internal': 'حدث خطأ من جهتنا. يرجى المحاولة لاحقًا.',
    'err.disconnected': 'لا يوجد اتصال. يرجى المحاولة عند عودة الاتصال.',
    'err.timeout': 'لم يستجب الخادم. يرجى المحاولة مرة أخرى.',
    'err.network': 'خطأ في الشبكة. يرجى التحقق من اتصالك.',
    'err.unknown': 'حدث خطأ غير متوقع.',

    'index.title': 'مجلس — أسئلة وأجوبة مباشرة',
    'index.broadcasts': 'الجلسات المباشرة والقادمة',
    'index.none': 'لا توجد جلسات مجدولة حاليًا.',
    'index.joinHeading': 'الانضمام برمز',
    'index.joinLabel': 'رمز الجلسة',
    'index.joinSubmit': 'انضمام',
    'index.joinInvalid': 'أدخل الرمز الظاهر على الشاشة (حروف وأرقام).',
    'index.open': 'دخول الجلسة',
    'index.faqLink': 'تصفّح الأسئلة التي أُجيب عنها في الجلسات السابقة',

    'bc.title': 'الجلسة — مجلس',
    'bc.participants': {
      zero: 'لا مشاركين', one: 'مشارك واحد', two: 'مشاركان', few: '{n} مشاركين', many: '{n} مشاركًا', other: '{n} مشارك',
    },
    'bc.pinned': 'يُجاب عنه الآن',
    'bc.askHeading': 'اطرح سؤالًا',
    'bc.askLabel': 'سؤالك',
    'bc.askPlaceholder': 'اكتب سؤالك…',
    'bc.askAnon': 'اسأل دون ذكر اسمي',
    'bc.askSubmit': 'إرسال السؤال',
    'bc.askSending': 'جارٍ الإرسال…',
    'bc.askTooLong': 'سؤالك طويل جدًا.',
    'bc.askClosed': 'باب الأسئلة مغلق في هذه الجلسة.',
    'bc.askSentPending': 'تم الإرسال. سيظهر سؤالك بعد المراجعة.',
    'bc.askSent': 'تم نشر سؤالك.',
    'bc.askQueued': 'أنت غير متصل؛ سيُرسل سؤالك عند عودة الاتصال.',
    'bc.nameLabel': 'اسمك (اختياري)',
    'bc.nameHint': 'يظهر مع أسئلتك ما لم تسأل دون ذكر اسمك. تغييره يبدأ جلسة جديدة.',
    'bc.questions': 'الأسئلة',
    'bc.sortLabel': 'الترتيب حسب',
    'bc.sortTop': 'الأكثر تأييدًا',
    'bc.sortNew': 'الأحدث',
    'bc.stable': 'تثبيت الترتيب',
    'bc.resort': {
      zero: 'لا تحديثات جديدة — أعد الترتيب',
      one: 'تحديث جديد واحد — أعد الترتيب',
      two: 'تحديثان جديدان — أعد الترتيب',
      few: '{n} تحديثات جديدة — أعد الترتيب',
      many: '{n} تحديثًا جديدًا — أعد الترتيب',
      other: '{n} تحديث جديد — أعد الترتيب',
    },
    'bc.noQuestions': 'لا توجد أسئلة بعد. كن أول من يسأل!',
    'bc.vote': 'تأييد',
    'bc.voted': 'تم التأييد',
    'bc.voteAria': 'تأييد: {text}',
    'bc.votedAria': 'تم التأييد: {text}',
    'bc.votes': { zero: 'لا أصوات', one: 'صوت واحد', two: 'صوتان', few: '{n} أصوات', many: '{n} صوتًا', other: '{n} صوت' },
    'bc.answered': 'أسئلة أُجيب عنها',
    'bc.noAnswered': 'لا توجد أسئلة مُجاب عنها بعد.',
    'bc.answeredLive': 'أُجيب عنه مباشرة على الهواء',
    'bc.answerLabel': 'الإجابة:',
    'bc.mine': 'أسئلتي',
    'bc.mineNone': 'لم تطرح أي سؤال بعد.',
    'bc.status.pending': 'بانتظار المراجعة',
    'bc.status.approved': 'منشور',
    'bc.status.answered': 'تمت الإجابة',
    'bc.status.hidden': 'لم يُنشر',
    'bc.status.withdrawn': 'تم سحبه',
    'bc.status.merged': 'دُمج مع سؤال مشابه',
    'bc.status.sending': 'جارٍ الإرسال…',
    'bc.editLabel': 'تعديل سؤالك',
    'bc.yours': 'سؤالك',
    'bc.nowAnswering': 'يُجاب عنه الآن',
    'bc.notFound': 'لم يتم العثور على جلسة بهذا الرمز.',
    'bc.noCode': 'لم يُحدَّد رمز الجلسة.',
    'bc.backHome': 'العودة إلى جميع الجلسات',
    'bc.announceNew': 'سؤال جديد: {text}',
    'bc.announcePinned': 'يُجاب عنه الآن: {text}',
    'bc.ended': 'انتهت هذه الجلسة. شكرًا لمشاركتك.',

    'mod.title': 'لوحة الإشراف — مجلس',
    'mod.heading': 'لوحة الإشراف',
    'mod.tokenHeading': 'تسجيل الدخول',
    'mod.tokenLabel': 'رمز الموظف',
    'mod.tokenHint': 'افتح الرابط الذي يطبعه الخادم، أو الصق الرمز هنا.',
    'mod.tokenSubmit': 'دخول',
    'mod.signedIn': 'تم الدخول باسم {name} ({role})',
    'mod.signOut': 'تسجيل الخروج',
    'mod.tokenInvalid': 'لم يُقبل هذا الرمز.',
    'mod.notStaff': 'هذا الرمز لا يخص مشرفًا.',
    'mod.createHeading': 'جلسة جديدة',
    'mod.titleEn': 'العنوان (بالإنجليزية)',
    'mod.titleAr': 'العنوان (بالعربية)',
    'mod.descEn': 'الوصف (بالإنجليزية)',
    'mod.descAr': 'الوصف (بالعربية)',
    'mod.start': 'موعد البدء',
    'mod.premod': 'مراجعة الأسئلة قبل نشرها (إشراف مسبق)',
    'mod.allowAnon': 'السماح بالأسئلة دون ذكر الاسم',
    'mod.maxLen': 'الحد الأقصى لطول السؤال (بالأحرف)',
    'mod.createSubmit': 'إنشاء الجلسة',
    'mod.needTitle': 'أدخل عنوانًا بلغة واحدة على الأقل.',
    'mod.created': 'تم إنشاء الجلسة {code}.',
    'mod.listHeading': 'الجلسات',
    'mod.refresh': 'تحديث',
    'mod.listNone': 'لا توجد جلسات بعد.',
    'mod.bcOpen': 'فتح',
    'mod.bcLive': 'بدء البث',
    'mod.bcEnd': 'إنهاء',
    'mod.bcArchive': 'أرشفة',
    'mod.openNone': 'افتح جلسة للإشراف عليها.',
    'mod.questionsHeading': 'الأسئلة',
    'mod.filterLabel': 'عرض',
    'mod.filter.pending': 'بانتظار المراجعة ({n})',
    'mod.filter.approved': 'منشورة ({n})',
    'mod.filter.answered': 'مُجاب عنها ({n})',
    'mod.filter.hidden': 'مخفية ({n})',
    'mod.filter.all': 'الكل ({n})',
    'mod.queue': 'بانتظار المراجعة',
    'mod.queueNone': 'لا شيء بانتظار المراجعة.',
    'mod.others': 'أسئلة أخرى',
    'mod.othersNone': 'لا توجد أسئلة هنا.',
    'mod.held.premoderation': 'محجوز: إشراف مسبق',
    'mod.held.keyword': 'محجوز: تصفية الكلمات',
    'mod.held.muted': 'محجوز: الكاتب مكتوم',
    'mod.keywords': 'الكلمات المطابقة: {list}',
    'mod.original': 'النص الأصلي: {text}',
    'mod.hiddenReason': 'سبب الإخفاء: {text}',
    'mod.mergedInto': 'دُمج في #{id}',
    'mod.anonFlag': 'طُرح دون ذكر الاسم',
    'mod.mutedFlag': 'مكتوم',
    'mod.answerShown': 'الإجابة: {text}',
    'mod.tagsShown': 'الوسوم: {list}',
    'mod.status.pending': 'بانتظار المراجعة',
    'mod.status.approved': 'منشور',
    'mod.status.answered': 'مُجاب عنه',
    'mod.status.hidden': 'مخفي',
    'mod.status.withdrawn': 'مسحوب',
    'mod.status.merged': 'مدموج',
    'mod.approve': 'موافقة',
    'mod.hide': 'إخفاء',
    'mod.hideReason': 'سبب الإخفاء (اختياري)',
    'mod.hideSubmit': 'إخفاء السؤال',
    'mod.pin': 'تثبيت',
    'mod.unpin': 'إلغاء التثبيت',
    'mod.answer': 'إجابة',
    'mod.answerLabel': 'الإجابة المكتوبة',
    'mod.answerSubmit': 'نشر الإجابة',
    'mod.answerLive': 'أُجيب مباشرة',
    'mod.merge': 'دمج في…',
    'mod.mergeLabel': 'دمج هذا السؤال في',
    'mod.mergeSubmit': 'دمج',
    'mod.mergeNone': 'لا يوجد سؤال آخر للدمج فيه.',
    'mod.edit': 'تعديل النص',
    'mod.editLabel': 'نص السؤال',
    'mod.tags': 'الوسوم',
    'mod.tagsLabel': 'الوسوم (مفصولة بفواصل)',
    'mod.tagsSubmit': 'حفظ الوسوم',
    'mod.mute': 'كتم الكاتب',
    'mod.unmute': 'إلغاء كتم الكاتب',
    'mod.nowAnswering': 'يُجاب عنه الآن:',
    'mod.stats': 'إحصاءات مباشرة',
    'mod.statsCsv': 'تنزيل الإحصاءات (CSV)',
    'mod.presenterLink': 'فتح عرض المقدّم',
    'mod.joinLink': 'رابط انضمام المواطنين:',
    'mod.copy': 'نسخ الرابط',
    'mod.copied': 'تم النسخ',
    'mod.votesN': 'الأصوات: {n}',
    'stats.unique': 'المشاركون (دون تكرار)',
    'stats.peak': 'ذروة المشاركين',
    'stats.current': 'المشاركون حاليًا',
    'stats.asked': 'الأسئلة المطروحة',
    'stats.approved': 'المنشورة',
    'stats.answered': 'المُجاب عنها',
    'stats.hidden': 'المخفية',
    'stats.merged': 'المدموجة',
    'stats.withdrawn': 'المسحوبة',
    'stats.pending': 'بانتظار المراجعة',
    'stats.votes': 'الأصوات',
    'stats.top': 'الأسئلة الأكثر تأييدًا',
    'stats.byTag': 'حسب الوسم',
    'stats.noneYet': 'لا يوجد بعد.',
    'stats.updated': 'آخر تحديث {time}',

    'pres.title': 'عرض المقدّم — مجلس',
    'pres.waiting': 'بانتظار السؤال التالي…',
    'pres.scan': 'امسح الرمز لطرح سؤالك',
    'pres.code': 'رمز الجلسة',
    'pres.orVisit': 'أو افتح',
    'pres.fullscreen': 'ملء الشاشة',
    'pres.qrAlt': 'رمز QR للانضمام إلى الجلسة',

    'faq.title': 'الأسئلة الشائعة — مجلس',
    'faq.heading': 'الأسئلة الشائعة',
    'faq.intro': 'أسئلة أُجيب عنها خلال الجلسات المباشرة السابقة.',
    'faq.none': 'لا توجد أسئلة مُجاب عنها بعد.',
    'faq.live': 'أُجيب عنه مباشرة خلال البث',
    'faq.search': 'ابحث في الأسئلة',
    'faq.noMatch': 'لا توجد أسئلة مطابقة لبحثك.',
  },
};

const LANG_KEY = 'majlis.lang';
const langListeners = [];
let currentLang = detectLang();

function detectLang() {
  try {
    const stored = localStorage.getItem(LANG_KEY);
    if (stored === 'ar' || stored === 'en') return stored;
  } catch { /* storage blocked: fall through */ }
  return (navigator.language || '').toLowerCase().startsWith('ar') ? 'ar' : 'en';
}

export function getLang() {
  return currentLang;
}

const pluralRules = new Map();

/**
 * The CLDR plural category of the count `n` in `lang`: English has one/other; Arabic has zero, one, two,
 * few (3–10, 103–110, …), many (11–99, 111–199, …) and other (100–102, …), each with its own form of the noun.
 */
function pluralCategory(n, lang = currentLang) {
  if (!pluralRules.has(lang)) pluralRules.set(lang, new Intl.PluralRules(lang));
  return pluralRules.get(lang).select(Number(n) || 0);
}

/**
 * Translate `key`, replacing `{name}` placeholders from `args`. Missing keys show the key (visible in tests).
 * A string that depends on a count is an object of forms by plural category ({one, other} in English,
 * {zero, one, two, few, many, other} in Arabic); the count is `args.n`, and `other` is the fallback.
 */
export function t(key, args) {
  const lang = Object.hasOwn(STRINGS[currentLang] || {}, key) ? currentLang : 'en';
  let s = Object.hasOwn(STRINGS[lang], key) ? STRINGS[lang][key] : key;
  if (typeof s === 'object') s = s[pluralCategory(args?.n, lang)] ?? s.other;
  if (args) s = s.replace(/\{(\w+)\}/g, (m, name) => (name in args ? String(args[name]) : m));
  return s;
}

/** Exposed for the consistency check in tests: both languages must have the same keys. */
export const I18N_KEYS = { en: Object.keys(STRINGS.en), ar: Object.keys(STRINGS.ar) };

/**
 * Mark an element as translatable. The key (and args) live in data-* attributes so that a language
 * switch can re-translate the whole document with applyI18n() instead of every page re-rendering.
 * `attr` chooses where the text goes: 'text' (textContent), 'aria-label', 'placeholder', 'title', 'alt'.
 */
export function setText(node, key, args, attr = 'text') {
  const slot = attr === 'text' ? 'i18n' : `i18n${attr.replace(/(^|-)(\w)/g, (m, d, c) => c.toUpperCase())}`;
  node.dataset[slot] = key;
  const argSlot = `${slot}Args`;
  if (args) node.dataset[argSlot] = JSON.stringify(args);
  else delete node.dataset[argSlot];
  translateNode(node);
  return node;
}

/**
 * Show a count with its noun in the right plural form ("1 vote", "2 votes"; صوت واحد، صوتان، 3 أصوات، 11 صوتًا),
 * `key` being a plural string with `{n}`. Digits stay Latin, as elsewhere on the pages; `data-count` keeps the
 * bare number for scripts and tests. Follows language switches like setText().
 */
export function setCount(node, key, n, attr = 'text') {
  const count = Number(n) || 0;
  node.dataset.count = String(count);
  return setText(node, key, { n: count }, attr);
}

/** Empty a node filled by setText(), so a later language switch does not bring the old text back. */
export function clearText(node) {
  delete node.dataset.i18n;
  delete node.dataset.i18nArgs;
  node.textContent = '';
}

const ATTR_SLOTS = [
  ['i18nAriaLabel', 'aria-label'],
  ['i18nPlaceholder', 'placeholder'],
  ['i18nTitle', 'title'],
  ['i18nAlt', 'alt'],
];

function readArgs(node, slot) {
  const raw = node.dataset[`${slot}Args`];
  if (!raw) return undefined;
  try { return JSON.parse(raw); } catch { return undefined; }
}

function translateNode(node) {
  const ds = node.dataset;
  if (ds.i18n) node.textContent = t(ds.i18n, readArgs(node, 'i18n'));
  for (const [slot, attr] of ATTR_SLOTS) {
    if (ds[slot]) node.setAttribute(attr, t(ds[slot], readArgs(node, slot)));
  }
}

/** Translate every marked element under `root` (HTML uses data-i18n, data-i18n-aria-label, …). */
export function applyI18n(root = document) {
  const sel = '[data-i18n],[data-i18n-aria-label],[data-i18n-placeholder],[data-i18n-title],[data-i18n-alt]';
  if (root.matches?.(sel)) translateNode(root);
  root.querySelectorAll(sel).forEach(translateNode);
}

function applyDocumentLang() {
  const html = document.documentElement;
  html.lang = currentLang;
  html.dir = currentLang === 'ar' ? 'rtl' : 'ltr';
}

export function setLang(lang) {
  currentLang = lang === 'ar' ? 'ar' : 'en';
  try { localStorage.setItem(LANG_KEY, currentLang); } catch { /* not persisted, still switched */ }
  applyDocumentLang();
  applyI18n(document);
  for (const fn of langListeners) fn(currentLang);
}

/** Pages re-render language-dependent data (broadcast titles, dates) through this hook. */
export function onLangChange(fn) {
  langListeners.push(fn);
}

/** Common page start: set <html lang/dir>, translate static markup, wire the language button. */
export function initPage() {
  applyDocumentLang();
  applyI18n(document);
  const btn = document.querySelector('[data-testid="lang-switch"]');
  if (btn) btn.addEventListener('click', () => setLang(currentLang === 'ar' ? 'en' : 'ar'));
}

// ---------------------------------------------------------------------------------------------------------
// DOM helpers
// ---------------------------------------------------------------------------------------------------------

/**
 * Create an element. `props`: `testid`, `class`, `text` (textContent — the only way text goes in),
 * `i18n` (key) with `args`, `dir`, `lang`, `attrs` (setAttribute), `on` ({event: handler}), and any
 * other key is assigned as a DOM property (e.g. type, value, disabled, hidden).
 */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined || v === null) continue;
    if (k === 'testid') node.dataset.testid = v;
    else if (k === 'class') node.className = v;
    else if (k === 'text') node.textContent = String(v);
    else if (k === 'i18n' || k === 'args') continue;
    else if (k === 'attrs') for (const [a, av] of Object.entries(v)) node.setAttribute(a, String(av));
    else if (k === 'on') for (const [ev, fn] of Object.entries(v)) node.addEventListener(ev, fn);
    else if (k === 'dir' || k === 'lang' || k === 'role') node.setAttribute(k, v);
    else node[k] = v;
  }
  if (props.i18n) setText(node, props.i18n, props.args);
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    node.append(typeof c === 'string' ? document.createTextNode(c) : c);
  }
  return node;
}

/** An element holding user-written text: textContent only, and dir="auto" so Arabic and English both read right. */
export function userText(tag, text, props = {}) {
  return el(tag, { ...props, dir: 'auto', text: text ?? '' });
}

export function clear(node) {
  while (node.firstChild) node.removeChild(node.firstChild);
}

/** Pick the title/description in the UI language, falling back to the other one; returns {text, lang}. */
export function localized(obj) {
  if (!obj) return { text: '', lang: currentLang };
  const other = currentLang === 'ar' ? 'en' : 'ar';
  if (obj[currentLang]) return { text: obj[currentLang], lang: currentLang };
  if (obj[other]) return { text: obj[other], lang: other };
  return { text: '', lang: currentLang };
}

/** Fill `node` with localized text and mark its language, so screen readers pronounce it correctly. */
export function setLocalized(node, obj) {
  const { text, lang } = localized(obj);
  node.textContent = text;
  node.setAttribute('lang', lang);
  node.setAttribute('dir', lang === 'ar' ? 'rtl' : 'ltr');
}

/** Date/time in the UI language; Latin digits on purpose so numbers look the same to every reader and test. */
export function formatTime(ms) {
  if (ms === null || ms === undefined) return '';
  const locale = currentLang === 'ar' ? 'ar-BH-u-nu-latn' : 'en-GB';
  return new Intl.DateTimeFormat(locale, { dateStyle: 'medium', timeStyle: 'short' }).format(new Date(ms));
}

let announceTimer = 0;
/** Say something through the page's aria-live="polite" region. */
export function announce(message) {
  const region = document.getElementById('announcer');
  if (!region) return;
  // Clearing first and setting on the next tick makes screen readers repeat an identical message.
  region.textContent = '';
  clearTimeout(announceTimer);
  announceTimer = setTimeout(() => { region.textContent = message; }, 50);
}

/** Author label: anonymous questions have no author; a citizen who gave no name has an empty one. */
export function authorName(q) {
  if (!q.author) return t('anonymous');
  return q.author.name || t('unnamed');
}

/** Count characters the way the server does: Unicode scalar values, not UTF-16 units. */
export function charCount(text) {
  return [...text].length;
}

export function uuid() {
  if (globalThis.crypto?.randomUUID) return crypto.randomUUID();
  // Fallback for non-secure contexts (plain http on a LAN address), where randomUUID is unavailable.
  const bytes = new Uint8Array(16);
  if (globalThis.crypto?.getRandomValues) crypto.getRandomValues(bytes);
  else for (let i = 0; i < 16; i++) bytes[i] = Math.floor(Math.random() * 256);
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

// ---------------------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------------------

/** Error carrying a protocol error code; `retryAfterMs` is set for rate_limited. */
export class MajlisError extends Error {
  constructor(code, message, retryAfterMs) {
    super(message || code);
    this.code = code;
    this.retryAfterMs = retryAfterMs ?? null;
  }
}

/** Translation key and arguments for an error (the server's message is English only, so translate by code). */
function errorKey(err) {
  const code = err?.code || 'unknown';
  if (code === 'rate_limited') {
    return ['err.rate_limited', { n: Math.max(1, Math.ceil((err.retryAfterMs ?? 1000) / 1000)) }];
  }
  const key = `err.${code}`;
  return [STRINGS.en[key] ? key : 'err.unknown', undefined];
}

/** The user-facing sentence for an error, in the UI language. */
export function errorText(err) {
  const [key, args] = errorKey(err);
  return t(key, args);
}

/** Put an error message in `node` (role=alert), or clear it when err is null. Follows language switches. */
export function showError(node, err) {
  if (!node) return;
  if (err) {
    const [key, args] = errorKey(err);
    setText(node, key, args);
  } else {
    clearText(node);
  }
  node.hidden = !err;
}

// ---------------------------------------------------------------------------------------------------------
// REST
// ---------------------------------------------------------------------------------------------------------

/** JSON REST call under /api/. Throws MajlisError (code from the error body, or network). */
export async function api(method, path, { body, token, raw = false } = {}) {
  const headers = {};
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (token) headers.Authorization = `Bearer ${token}`;
  let res;
  try {
    res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch {
    throw new MajlisError('network', 'network error');
  }
  if (!res.ok) {
    let code = httpStatusCode(res.status);
    let message = res.statusText;
    try {
      const j = await res.json();
      if (j?.error?.code) ({ code, message } = j.error);
    } catch { /* body was not JSON; keep the status-derived code */ }
    const retry = res.headers.get('Retry-After');
    throw new MajlisError(code, message, retry ? Number(retry) * 1000 : null);
  }
  if (raw) return res;
  if (res.status === 204) return null;
  return res.json();
}

function httpStatusCode(status) {
  return ({ 400: 'bad_request', 401: 'unauthorized', 403: 'forbidden', 404: 'not_found', 409: 'conflict',
    413: 'too_large', 429: 'rate_limited', 503: 'unavailable' })[status] || 'internal';
}

// ---------------------------------------------------------------------------------------------------------
// Citizen session
// ---------------------------------------------------------------------------------------------------------

const SESSION_MARGIN_MS = 60_000;

/** expires_at is documented as epoch ms; accept seconds too (JWT `exp` style) rather than reuse a dead token. */
function expiryMs(expiresAt) {
  const n = Number(expiresAt);
  if (!Number.isFinite(n)) return 0;
  return n < 1e12 ? n * 1000 : n;
}

export function loadSession(key = 'majlis.session') {
  try {
    const s = JSON.parse(localStorage.getItem(key) || 'null');
    if (s?.token && expiryMs(s.expires_at) > Date.now() + SESSION_MARGIN_MS) return s;
  } catch { /* corrupt entry: get a new one */ }
  return null;
}

/**
 * A valid citizen session, reused from localStorage when it has not expired.
 * `name` (optional) is stored as `requested_name` so the page can tell whether the user changed it.
 */
export async function getCitizenSession({ key = 'majlis.session', name, force = false } = {}) {
  if (!force) {
    const s = loadSession(key);
    if (s) return s;
  }
  const wanted = name ?? loadRequestedName(key);
  const body = wanted ? { name: wanted } : {};
  const res = await api('POST', '/api/session', { body });
  const session = { ...res, requested_name: wanted || '' };
  try { localStorage.setItem(key, JSON.stringify(session)); } catch { /* works for this page only */ }
  return session;
}

function loadRequestedName(key) {
  try { return JSON.parse(localStorage.getItem(key) || 'null')?.requested_name || ''; } catch { return ''; }
}

// ---------------------------------------------------------------------------------------------------------
// WebSocket client
// ---------------------------------------------------------------------------------------------------------

export function wsUrl() {
  return `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}/ws`;
}

const BACKOFF_BASE_MS = 500;
const BACKOFF_CAP_MS = 30_000;
const STABLE_AFTER_MS = 10_000;
const HEARTBEAT_EVERY_MS = 25_000;
const HEARTBEAT_TIMEOUT_MS = 10_000;
const INTERNAL_TIMEOUT_MS = 15_000;
const COMMAND_TIMEOUT_MS = 20_000;

/**
 * Majlis WebSocket client.
 *
 * - `send(type, fields)` returns a promise resolved with the ack `result` or rejected with a MajlisError.
 *   While not connected, `ask` is queued (and re-sent after a reconnect with the same client_msg_id);
 *   every other command is rejected with code `disconnected` so the UI never acts on stale intent.
 * - `join(room)` keeps the room joined across reconnects, rejoining with `since: {epoch, seq}`.
 * - Events: on('status'|'snapshot'|'event'|'presence'|'joined'|'join_error'|'auth'|'auth_failed'|
 *   'shutdown'|'protocol_error', fn).
 *
 * `getToken(force)` returns a token; with force=true it must get a fresh one (or throw if it cannot).
 */
export class MajlisClient {
  constructor({ getToken, url = wsUrl() }) {
    this.url = url;
    this.getToken = getToken;
    this.ws = null;
    this.nextId = 1;
    this.pending = new Map(); // String(id) → entry awaiting ack/error on the current socket
    this.queue = []; // asks waiting for a connection
    this.rooms = new Map(); // room → sync state
    this.listeners = new Map();
    this.state = 'idle';
    this.ready = false; // authenticated and rooms rejoined
    this.user = null;
    this.attempt = 0;
    this.everConnected = false;
    this.stopped = false;
    this.shutdownDelayMs = 0;
    this.notBefore = 0; // no reconnect before this time (server_shutdown asked us to wait)
    this.connGen = 0; // which connection a room was last joined on
    this.timers = { reconnect: 0, stable: 0, heartbeat: 0 };
    this.lastClose = null;
    window.addEventListener('online', () => this._reconnectSoon());
  }

  on(name, fn) {
    if (!this.listeners.has(name)) this.listeners.set(name, []);
    this.listeners.get(name).push(fn);
    return this;
  }

  _emit(name, payload) {
    for (const fn of this.listeners.get(name) || []) {
      try { fn(payload); } catch (e) { console.error(`majlis: ${name} handler failed`, e); }
    }
  }

  _setState(state) {
    if (this.state === state) return;
    this.state = state;
    this._emit('status', state);
  }

  connect() {
    if (this.stopped || this.ws) return;
    clearTimeout(this.timers.reconnect);
    this._setState(this.everConnected ? 'reconnecting' : 'connecting');
    let ws;
    try {
      ws = new WebSocket(this.url);
    } catch {
      this._scheduleReconnect();
      return;
    }
    this.ws = ws;
    ws.onopen = () => { if (ws === this.ws) this._onOpen(ws); };
    ws.onmessage = (ev) => { if (ws === this.ws) this._onMessage(ev.data); };
    ws.onclose = (ev) => this._drop(ws, ev.code, ev.reason);
    ws.onerror = () => { /* a close event always follows; handled there */ };
  }

  /** Stop for good (page unload, sign-out). */
  close() {
    this.stopped = true;
    clearTimeout(this.timers.reconnect);
    const ws = this.ws;
    if (ws) { ws.close(1000, 'bye'); this._drop(ws, 1000, 'bye'); }
    this._setState('closed');
  }

  /** Identity changed (new session): forget room positions so rejoins get fresh snapshots; reconnect now. */
  restart() {
    for (const r of this.rooms.values()) Object.assign(r, { epoch: null, seq: null, needSnapshot: true });
    this.attempt = 0;
    const ws = this.ws;
    if (ws) { ws.close(1000, 'bye'); this._drop(ws, 1000, 'restart'); } else this._reconnectSoon();
  }

  async _onOpen(ws) {
    this.connGen += 1;
    this.timers.stable = setTimeout(() => { this.attempt = 0; }, STABLE_AFTER_MS);
    try {
      const prevSub = this.user?.sub;
      this.user = await this._authenticate();
      if (ws !== this.ws) return;
      // A new identity must not resume the old identity's rooms: its `mine`/`my_votes` differ.
      if (prevSub && prevSub !== this.user.sub) {
        for (const r of this.rooms.values()) Object.assign(r, { epoch: null, seq: null, needSnapshot: true });
      }
      this._emit('auth', this.user);
      // Loop: a page may call join() while earlier joins are still in flight on this connection.
      for (;;) {
        const todo = [...this.rooms.entries()].filter(([, r]) => r.gen !== this.connGen).map(([room]) => room);
        if (!todo.length) break;
        await Promise.all(todo.map((room) => this._joinRoom(room)));
        if (ws !== this.ws) return;
      }
      this.everConnected = true;
      this.ready = true;
      this._setState('open');
      this._flushQueue();
      this._startHeartbeat(ws);
    } catch (err) {
      if (ws !== this.ws) return;
      if (err?.code === 'unauthorized' || err?.code === 'auth_failed') {
        this._emit('auth_failed', err);
        this.close();
        return;
      }
      ws.close(4000, 'setup failed');
      this._drop(ws, 4000, 'setup failed');
    }
  }

  async _authenticate() {
    let token = await this.getToken(false);
    try {
      return (await this._raw('auth', { token })).user;
    } catch (err) {
      if (err.code !== 'unauthorized') throw err;
    }
    // The stored token expired or the server forgot its key (restart): get a new one once.
    try {
      token = await this.getToken(true);
    } catch {
      throw new MajlisError('auth_failed', 'no fresh token');
    }
    return (await this._raw('auth', { token })).user;
  }

  /**
   * Join (and keep joined) a room. Resolves with the join ack, or rejects if the join fails now.
   * `observer: true` for a screen showing the room rather than a person (not counted as a participant).
   */
  join(room, { observer = false } = {}) {
    if (!this.rooms.has(room)) {
      this.rooms.set(room, { epoch: null, seq: null, needSnapshot: true, joining: false, gapWhileJoining: false,
        snapshotWhileJoining: false, resyncing: false, observer });
    }
    if (this.ready) return this._joinRoom(room);
    if (!this.ws) this.connect();
    return Promise.resolve(null); // joined as part of the connection setup
  }

  leave(room) {
    this.rooms.delete(room);
    if (this.ready) return this._raw('leave', { room }).catch(() => null);
    return Promise.resolve(null);
  }

  async _joinRoom(room) {
    const r = this.rooms.get(room);
    if (!r) return null;
    const fields = { room };
    if (r.observer) fields.observer = true;
    if (r.epoch !== null && r.seq !== null && !r.needSnapshot) fields.since = { epoch: r.epoch, seq: r.seq };
    else r.needSnapshot = true;
    Object.assign(r, { gen: this.connGen, joining: true, gapWhileJoining: false, snapshotWhileJoining: false });
    try {
      const ack = await this._raw('join', fields);
      r.joining = false;
      if (ack.recovered) {
        // Missed events were replayed before/around the ack; if one was skipped, resynchronise.
        if (r.gapWhileJoining) this._resync(room);
      } else if (!r.snapshotWhileJoining) {
        r.needSnapshot = true; // the snapshot follows the ack; drop stray events until it arrives
      }
      this._emit('joined', { room, recovered: !!ack.recovered });
      return ack;
    } catch (err) {
      r.joining = false;
      if (err.code === 'disconnected' || err.code === 'timeout') throw err; // connection setup retries
      this._emit('join_error', { room, error: err });
      return null;
    }
  }

  /** Seq gap: the stream is no longer trustworthy, so drop the position and ask for a fresh snapshot. */
  async _resync(room) {
    const r = this.rooms.get(room);
    if (!r || r.resyncing || !this.ready) return;
    r.resyncing = true;
    Object.assign(r, { epoch: null, seq: null, needSnapshot: true });
    try {
      await this._raw('leave', { room }).catch(() => null);
      await this._joinRoom(room);
    } catch { /* the connection dropped; reconnect rejoins */ } finally {
      r.resyncing = false;
    }
  }

  /** Send a user command (see class comment for offline behaviour). */
  send(type, fields = {}) {
    return new Promise((resolve, reject) => {
      const entry = { type, fields, resolve, reject, queued: type === 'ask' };
      if (this.ready) this._transmit(entry, COMMAND_TIMEOUT_MS);
      else if (entry.queued) this.queue.push(entry);
      else reject(new MajlisError('disconnected', 'not connected'));
    });
  }

  /** Commands currently waiting for a connection or an ack (asks only survive a drop). */
  get unackedAsks() {
    return [...this.queue, ...[...this.pending.values()].filter((e) => e.queued)].map((e) => e.fields);
  }

  _raw(type, fields, timeoutMs = INTERNAL_TIMEOUT_MS) {
    return new Promise((resolve, reject) => {
      this._transmit({ type, fields, resolve, reject, internal: true }, timeoutMs);
    });
  }

  _transmit(entry, timeoutMs) {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) {
      if (entry.queued) this.queue.push(entry);
      else entry.reject(new MajlisError('disconnected', 'not connected'));
      return;
    }
    const id = this.nextId++;
    entry.id = String(id);
    this.pending.set(entry.id, entry);
    // Asks have no timeout: they stay pending until acked or re-sent after a reconnect.
    if (!entry.queued) {
      entry.timer = setTimeout(() => {
        if (this.pending.get(entry.id) !== entry) return;
        this.pending.delete(entry.id);
        entry.reject(new MajlisError('timeout', 'no reply'));
      }, timeoutMs);
    }
    ws.send(JSON.stringify({ type: entry.type, id, ...entry.fields }));
  }

  _flushQueue() {
    const queued = this.queue;
    this.queue = [];
    for (const entry of queued) this._transmit(entry, COMMAND_TIMEOUT_MS);
  }

  _onMessage(data) {
    let f;
    try { f = JSON.parse(data); } catch { return; }
    switch (f.type) {
      case 'ack': return this._settle(f, null);
      case 'error': return this._settle(f, new MajlisError(f.code, f.message, f.retry_after_ms));
      case 'snapshot': return this._onSnapshot(f);
      case 'event': return this._onEvent(f);
      case 'presence': return this._emit('presence', f);
      case 'server_shutdown':
        // The close (1012) follows; wait at least this long before reconnecting.
        this.shutdownDelayMs = Number(f.reconnect_after_ms) || 0;
        return this._emit('shutdown', f);
      default: return undefined;
    }
  }

  _settle(f, err) {
    if (f.id === null || f.id === undefined) {
      this._emit('protocol_error', err);
      return;
    }
    const entry = this.pending.get(String(f.id));
    if (!entry) return;
    this.pending.delete(String(f.id));
    clearTimeout(entry.timer);
    if (err) {
      entry.reject(err);
      // An expired token mid-connection: reconnecting re-authenticates (and refreshes the token).
      if (err.code === 'unauthorized' && !entry.internal && this.ws) {
        const ws = this.ws;
        ws.close(4000, 'reauth');
        this._drop(ws, 4000, 'reauth');
      }
    } else {
      entry.resolve(f.result ?? {});
    }
  }

  _onSnapshot(f) {
    const r = this.rooms.get(f.room);
    if (!r) return;
    Object.assign(r, { epoch: f.epoch, seq: f.seq, needSnapshot: false, snapshotWhileJoining: true });
    this._emit('snapshot', f);
  }

  _onEvent(f) {
    const r = this.rooms.get(f.room);
    if (!r || r.needSnapshot) return;
    if (f.seq <= r.seq) return; // already applied (replay overlap)
    if (f.seq !== r.seq + 1) {
      if (r.joining) r.gapWhileJoining = true; // decided when the join ack arrives
      else this._resync(f.room);
      return;
    }
    r.seq = f.seq;
    this._emit('event', f);
  }

  _startHeartbeat(ws) {
    // Browsers answer server pings, but a half-open TCP connection is only noticed by sending something.
    clearInterval(this.timers.heartbeat);
    this.timers.heartbeat = setInterval(() => {
      if (ws !== this.ws || !this.ready) return;
      this._raw('ping', {}, HEARTBEAT_TIMEOUT_MS).catch((err) => {
        if (err.code === 'timeout' && ws === this.ws) { ws.close(4000, 'heartbeat'); this._drop(ws, 4000, 'heartbeat'); }
      });
    }, HEARTBEAT_EVERY_MS);
  }

  /** The socket is gone (closed by either side, or given up on): clean up and schedule a reconnect. */
  _drop(ws, code, reason) {
    if (ws !== this.ws) return;
    this.ws = null;
    this.ready = false;
    this.lastClose = { code, reason };
    clearTimeout(this.timers.stable);
    clearInterval(this.timers.heartbeat);
    const pending = [...this.pending.values()];
    this.pending.clear();
    for (const entry of pending) {
      clearTimeout(entry.timer);
      if (entry.queued) this.queue.push(entry); // re-sent with the same client_msg_id after reconnect
      else entry.reject(new MajlisError('disconnected', 'connection lost'));
    }
    this._emit('close', { code, reason });
    if (this.stopped) { this._setState('closed'); return; }
    this._setState(this.everConnected ? 'reconnecting' : 'connecting');
    this._scheduleReconnect();
  }

  _scheduleReconnect() {
    clearTimeout(this.timers.reconnect);
    // Full jitter: random(0, min(cap, base·2^n)) spreads a crowd of clients after a server restart.
    const ceiling = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** this.attempt);
    let delay = Math.random() * ceiling;
    if (this.shutdownDelayMs) {
      delay += this.shutdownDelayMs;
      this.notBefore = Date.now() + this.shutdownDelayMs;
      this.shutdownDelayMs = 0;
    }
    this.attempt += 1;
    this.nextReconnectDelayMs = delay;
    this.timers.reconnect = setTimeout(() => this.connect(), delay);
  }

  _reconnectSoon() {
    // The browser says the network is back: skip the remaining backoff, but never a server_shutdown wait.
    if (this.stopped || this.ws || Date.now() < this.notBefore) return;
    clearTimeout(this.timers.reconnect);
    this.connect();
  }
}

/** Keep a connection indicator (data-testid="conn-status") in step with the client. */
export function bindConnStatus(node, client) {
  const render = (state) => {
    node.dataset.state = state;
    setText(node, `conn.${state}`);
  };
  render(client.state);
  client.on('status', render);
}
